#!/bin/sh
# deps.sh — install the Debian packages a make target needs, and only those.
#
#   sh tools/deps.sh PACKAGE...      (the Makefile's deps-* targets call it)
#
# When everything is there it costs one dpkg-query and says nothing: make run
# and make test call it every time. Otherwise, as root or else through sudo:
# apt-get update, then apt-get install of the missing packages only. While
# apt-get runs, a policy-rc.d that answers 101 forbids every service start
# (nginx's postinst starts nginx through deb-systemd-invoke, which ignores
# RUNLEVEL); one that was there before is put back afterwards, also when
# apt-get fails. The services of the packages brought in are then disabled,
# so that installing leaves nothing running and nothing to start at boot.
#
# Environment, set by the Makefile: LLHTTP_MISSING=yes adds whichever llhttp
# package this Debian has (libllhttp-dev from 13 on, node-llhttp in 12);
# POLICY_RC_D is where policy-rc.d goes (the tests point it elsewhere).
set -eu

STATUS_FORMAT='${Package} ${Status}\n'
POLICY_MARK='# written by relay'"'"'s tools/deps.sh while apt-get runs; removed after'

# The installed packages among the arguments, or all of them without any.
installed() {
	dpkg-query -W -f="$STATUS_FORMAT" "$@" 2>/dev/null | awk '$NF == "installed" { print $1 }'
}

say() {
	echo "relay: $*" >&2
}

# The part that runs as root: $1 policy-rc.d path, $2 yes when llhttp is
# missing, then the missing packages.
install_as_root() {
	policy=$1
	llhttp=$2
	shift 2
	saved=$policy.relay-saved

	apt-get update -qq
	if [ "$llhttp" = yes ]; then
		if apt-cache show libllhttp-dev >/dev/null 2>&1; then
			set -- "$@" libllhttp-dev
		else
			set -- "$@" node-llhttp
		fi
	fi

	# A saved copy left by an interrupted run is the operator's file: keep it.
	if [ -e "$saved" ] || [ -L "$saved" ]; then
		say "$saved exists (left by an interrupted make deps?): move it back to $policy, then retry"
		exit 1
	fi
	trap restore_policy EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	# Ours (from a run killed before its trap) is not worth saving.
	if { [ -e "$policy" ] || [ -L "$policy" ]; } && ! grep -qxF "$POLICY_MARK" "$policy" 2>/dev/null; then
		mv "$policy" "$saved"
	fi
	printf '#!/bin/sh\n%s\nexit 101\n' "$POLICY_MARK" >"$policy"
	chmod 755 "$policy"

	before=$(installed)
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
	after=$(installed)
	# Packages only after: those this install brought in, dependencies included.
	disable_services $(printf '%s\n%s\n' "$before" "$after" | sort | uniq -u)
}

# Never removes a file without our mark: the operator's is put back instead.
restore_policy() {
	if [ -e "$saved" ] || [ -L "$saved" ]; then
		mv -f "$saved" "$policy"
	elif grep -qxF "$POLICY_MARK" "$policy" 2>/dev/null; then
		rm -f "$policy"
	fi
}

# Disable every systemd unit and init script that these packages ship:
# their postinst enabled them (nginx would listen on port 80 after a reboot).
disable_services() {
	[ $# -gt 0 ] || return 0
	files=$(dpkg -L "$@" 2>/dev/null || true)
	units=$(printf '%s\n' "$files" | sed -n 's#^\(/usr\)\{0,1\}/lib/systemd/system/\([^/@]*\.\(service\|socket\|timer\|path\)\)$#\2#p')
	scripts=$(printf '%s\n' "$files" | sed -n 's#^/etc/init\.d/\([^/]*\)$#\1#p')
	[ -n "$units$scripts" ] || return 0
	for unit in $units; do
		systemctl disable --quiet "$unit" >/dev/null 2>&1 || true
	done
	for script in $scripts; do
		update-rc.d "$script" disable >/dev/null 2>&1 || true
	done
	say "disabled what the install enabled:" $units $scripts
}

if [ "${1:-}" = --as-root ]; then
	shift
	install_as_root "$@"
	exit 0
fi

# Not Debian: nothing to install with; the build names what it lacks.
command -v dpkg-query >/dev/null 2>&1 || exit 0

have=" $(installed "$@" | tr '\n' ' ')"
missing=
for pkg in "$@"; do
	case "$have" in
	*" $pkg "*) ;;
	*) missing="$missing $pkg" ;;
	esac
done
llhttp=${LLHTTP_MISSING:-no}
[ -n "$missing" ] || [ "$llhttp" = yes ] || exit 0

if [ "$llhttp" = yes ]; then
	say "installing$missing llhttp"
else
	say "installing$missing"
fi
if [ "$(id -u)" = 0 ]; then
	exec sh "$0" --as-root "${POLICY_RC_D:-/usr/sbin/policy-rc.d}" "$llhttp" $missing
fi
if ! command -v sudo >/dev/null 2>&1; then
	say "installing needs root and there is no sudo: run this as root (or apt-get install$missing)"
	exit 1
fi
exec sudo sh "$0" --as-root "${POLICY_RC_D:-/usr/sbin/policy-rc.d}" "$llhttp" $missing
