# shellcheck shell=dash
# IKE peers: libreswan (pluto) for the legacy plain-ESP clients and strongSwan (charon) for
# the NAT-T clients. One daemon per namespace, each with its own files in $LAB_RUN/<ns>/.
#
# Plain ESP behind NAT needs libreswan with encapsulation=no on both ends: it ignores NAT
# detection and sends ESP as IP protocol 50. strongSwan always floats to UDP 4500 behind a
# NAT, which is what the NAT-T cases want.

PSK=lab-secret-not-for-production
LSW_IKE=aes128-sha2_256-modp2048
LSW_ESP=aes128-sha2_256

# ---------------------------------------------------------------- libreswan
lsw_dir() { echo "$LAB_RUN/$1"; }
lsw_ctl() { echo "$LAB_RUN/$1/run/pluto.ctl"; }
whack_ns() { _w=$1; shift; whack --ctlsocket "$(lsw_ctl "$_w")" "$@"; }

_lsw_setup() {
    cat <<EOF
config setup
	ikev1-policy=accept
	plutodebug=none
	logtime=yes
	logappend=yes

conn %default
	authby=secret
	encapsulation=no
	ike=$LSW_IKE
	esp=$LSW_ESP
	leftupdown=/opt/lab/updown-noop.sh
	keyingtries=3
	ikelifetime=8h
	salifetime=1h
EOF
}

_lsw_version() {  # v1|v2 -> conn lines
    if [ "$1" = v1 ]; then
        printf '\tikev2=no\n\taggressive=yes\n'
    else
        printf '\tikev2=yes\n'
    fi
}

# lsw_client CLIENT VERSION: configure pluto in CLIENT for a tunnel to s (conn "lab");
# VERSION as for lsw_server.
lsw_client() {
    _c=$1 _v=$(lsw_version_of "$2" "$1") _d=$(lsw_dir "$1") _a=$(client_addr "$1")
    mkdir -p "$_d"
    {
        _lsw_setup
        echo
        echo "conn lab"
        _lsw_version "$_v"
        printf '\tleft=%s\n\tleftid=@%s.lab\n\tleftsubnet=%s/32\n' "$_a" "$_c" "$_a"
        printf '\tright=%s\n\trightid=@s.lab\n\trightsubnet=%s\n\tauto=add\n' "$S_ADDR" "$S_NET"
    } >"$_d/ipsec.conf"
    printf '@%s.lab @s.lab : PSK "%s"\n' "$_c" "$PSK" >"$_d/ipsec.secrets"
}

# lsw_version_of VERSION CLIENT: v1 or v2. VERSION "alt" alternates: c1, c3, ... IKEv1,
# c2, c4, ... IKEv2.
lsw_version_of() {
    if [ "$1" != alt ]; then echo "$1"; elif [ $((${2#c} % 2)) = 1 ]; then echo v1; else echo v2; fi
}

# lsw_server VERSION [CLIENT...]: configure pluto in s with one conn per client (named like
# the client; default c1 c2 c3). VERSION is v1, v2 or alt (lsw_version_of).
lsw_server() {
    _v=$1 _d=$(lsw_dir s)
    shift
    [ $# -gt 0 ] || set -- c1 c2 c3
    mkdir -p "$_d"
    : >"$_d/ipsec.secrets"
    {
        _lsw_setup
        for _c in "$@"; do
            _a=$(client_addr "$_c")
            echo
            echo "conn $_c"
            _lsw_version "$(lsw_version_of "$_v" "$_c")"
            printf '\tleft=%s\n\tleftid=@s.lab\n\tleftsubnet=%s\n' "$S_ADDR" "$S_NET"
            printf '\tright=%%any\n\trightid=@%s.lab\n\trightsubnet=%s/32\n\tauto=add\n' "$_c" "$_a"
            printf '@s.lab @%s.lab : PSK "%s"\n' "$_c" "$PSK" >>"$_d/ipsec.secrets"
        done
    } >"$_d/ipsec.conf"
}

# lsw_start NS: NSS database, pluto, listen, load the conns.
lsw_start() {
    _n=$1 _d=$(lsw_dir "$1")
    mkdir -p "$_d/nss" "$_d/run"
    rm -f "$_d/run/pluto.ctl"
    certutil -N -d "sql:$_d/nss" --empty-password >"$_d/certutil.log" 2>&1 \
        || { say "$_n: certutil failed: $(cat "$_d/certutil.log")"; return 1; }
    spawn "pluto_$_n" "$_n" "$_d/pluto.out" pluto --nofork --config "$_d/ipsec.conf" \
        --rundir "$_d/run" --nssdir "$_d/nss" --ipsecdir "$_d" --secretsfile "$_d/ipsec.secrets" \
        --logfile "$_d/pluto.log"
    if ! wait_for 30 test -S "$(lsw_ctl "$_n")"; then
        say "$_n: pluto did not come up: $(tail -n 5 "$_d/pluto.out" "$_d/pluto.log" 2>&1)"
        return 1
    fi
    {
        whack_ns "$_n" --listen
        addconn --ctlsocket "$(lsw_ctl "$_n")" --config "$_d/ipsec.conf" --autoall
        whack_ns "$_n" --rereadsecrets
    } >>"$_d/whack.log" 2>&1
    return 0
}

# lsw_up CLIENT [TIMEOUT]: initiate conn "lab", wait for its ESP states. 0 when up.
lsw_up() {
    _c=$1 _d=$(lsw_dir "$1")
    timeout "${2:-60}" whack --ctlsocket "$(lsw_ctl "$_c")" --name lab --initiate >>"$_d/whack.log" 2>&1
    [ "$(esp_state_count "$_c")" -ge 2 ]
}

# lsw_rekey NS CONN: start a new phase-2 exchange for an established IPsec SA.
lsw_rekey() {
    _o=$(whack_ns "$1" --name "$2" --rekey-ipsec 2>&1)
    _rc=$?
    echo "$_o" >>"$(lsw_dir "$1")/whack.log"
    info "$1: whack --name $2 --rekey-ipsec: rc=$_rc $(echo "$_o" | tr '\n' ' ')"
    return $_rc
}

# ---------------------------------------------------------------- strongSwan
ssw_dir() { echo "$LAB_RUN/$1"; }
ssw_uri() { echo "unix://$LAB_RUN/$1/charon.vici"; }

_ssw_conf() {  # DIR -> strongswan.conf
    cat <<EOF
charon {
	load = random nonce aes sha1 sha2 hmac gmp kdf x509 pubkey pkcs1 pem kernel-netlink socket-default vici
	install_routes = no
	install_virtual_ip = no
	plugins {
		vici {
			socket = unix://$1/charon.vici
		}
	}
	filelog {
		lab {
			path = $1/charon.log
			time_format = %T
			default = 1
			ike_name = yes
		}
	}
	syslog {
		daemon {
			default = -1
		}
	}
}
swanctl {
	load = random nonce aes sha1 sha2 hmac gmp pem pkcs1 x509 pubkey
}
EOF
}

# ssw_client CLIENT: a NAT-T tunnel from CLIENT to s2 (conn and child "lab").
ssw_client() {
    _c=$1 _d=$(ssw_dir "$1") _a=$(client_addr "$1")
    mkdir -p "$_d"
    _ssw_conf "$_d" >"$_d/strongswan.conf"
    cat >"$_d/swanctl.conf" <<EOF
connections {
	lab {
		version = 2
		local_addrs = $_a
		remote_addrs = $S2_ADDR
		proposals = aes128-sha256-modp2048
		local {
			auth = psk
			id = $_c.lab
		}
		remote {
			auth = psk
			id = s2.lab
		}
		children {
			lab {
				local_ts = $_a/32
				remote_ts = $S2_NET
				esp_proposals = aes128-sha256
			}
		}
	}
}
secrets {
	ike-lab {
		secret = "$PSK"
	}
}
EOF
}

ssw_server() {  # in s2: any client from 192.168.1.0/24
    _d=$(ssw_dir s2)
    mkdir -p "$_d"
    _ssw_conf "$_d" >"$_d/strongswan.conf"
    cat >"$_d/swanctl.conf" <<EOF
connections {
	lab {
		version = 2
		local_addrs = $S2_ADDR
		proposals = aes128-sha256-modp2048
		local {
			auth = psk
			id = s2.lab
		}
		remote {
			auth = psk
		}
		children {
			lab {
				local_ts = $S2_NET
				remote_ts = 192.168.1.0/24
				esp_proposals = aes128-sha256
			}
		}
	}
}
secrets {
	ike-lab {
		secret = "$PSK"
	}
}
EOF
}

# ssw_start NS: charon with a private /run (5.9 has a fixed /run/charon.pid), then load.
ssw_start() {
    _n=$1 _d=$(ssw_dir "$1")
    rm -f "$_d/charon.vici"
    spawn "charon_$_n" "$_n" "$_d/charon.out" dash -c \
        "mount -t tmpfs tmpfs /run && export STRONGSWAN_CONF=$_d/strongswan.conf && exec /usr/lib/ipsec/charon"
    if ! wait_for 30 test -S "$_d/charon.vici"; then
        say "$_n: charon did not come up: $(tail -n 5 "$_d/charon.out" "$_d/charon.log" 2>&1)"
        return 1
    fi
    STRONGSWAN_CONF=$_d/strongswan.conf swanctl --load-all --noprompt --file "$_d/swanctl.conf" \
        --uri "$(ssw_uri "$_n")" >>"$_d/swanctl.log" 2>&1 \
        || { say "$_n: swanctl --load-all failed: $(tail -n 5 "$_d/swanctl.log")"; return 1; }
}

# ssw_up CLIENT [TIMEOUT]: initiate child "lab", wait for its ESP states. 0 when up.
ssw_up() {
    _c=$1 _d=$(ssw_dir "$1")
    STRONGSWAN_CONF=$_d/strongswan.conf timeout "${2:-60}" swanctl --initiate --child lab \
        --timeout "${2:-60}" --uri "$(ssw_uri "$_c")" >>"$_d/swanctl.log" 2>&1
    [ "$(esp_state_count "$_c")" -ge 2 ]
}
