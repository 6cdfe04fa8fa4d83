#!/bin/sh
# libreswan updown for the lab: nothing to do. pluto installs the SAs and policies itself,
# and every namespace routes everything through its default gateway.
exit 0
