#!/bin/sh
# collect-host-facts.sh - print ONE JSON document with the GPU facts of a Proxmox node.
#
#   ssh root@pve sh -s < collect-host-facts.sh > stacks/facts/pve.json
#   sh collect-host-facts.sh [ROOT]          # or HOSTFACTS_ROOT=ROOT sh collect-host-facts.sh
#
# ROOT (optional, for tests and offline use) is a directory holding a copy of the
# node's dev/, sys/, proc/ and etc/ trees; every path below is read under it.
# `pveversion` is run from PATH when present (it is not looked up under ROOT).
#
# Read-only: it runs stat, readlink, cat, awk, sed, uname, date, tar and zstd/xz/gzip/bzip2 (and
# `nvidia-container-cli --version` where installed), writes nothing and changes nothing, so it is
# safe as root.  POSIX sh + coreutils or busybox.
# Majors and minors are printed in DECIMAL (stat's %t/%T are hex and converted here).
# Templates in the node's template caches are streamed (decompressor | tar -xO, to stdout
# only) to read the video/render GIDs of their /etc/group, and an OCI image's config (and the
# passwd/group lines of its User) out of its layers; nothing is unpacked to disk.
# Schema: docs/host-facts.md; parser: pve_gpu_lxc.facts (HostFacts.load).
set -u
LC_ALL=C
export LC_ALL
ROOT=${1:-${HOSTFACTS_ROOT:-}}
ROOT=${ROOT%/}
SCHEMA_VERSION=1

# JSON string literal of $1: escapes backslash, quote and every control character.
# Text of only the characters below needs no escape and no awk (most paths and names).
# The trailing "x" keeps trailing newlines, which command substitution would eat.
json_str() {
    case $1 in
        *[!A-Za-z0-9/._:+@,=-]*) ;;
        *) printf '"%s"' "$1"; return 0 ;;
    esac
    printf '%sx' "$1" | awk '
        BEGIN {
            for (i = 1; i < 32; i++) ctl[sprintf("%c", i)] = sprintf("\\u%04x", i)
            ctl["\b"] = "\\b"; ctl["\t"] = "\\t"; ctl["\n"] = "\\n"; ctl["\f"] = "\\f"; ctl["\r"] = "\\r"
        }
        { buf = (NR > 1) ? buf "\n" $0 : $0 }
        END {
            buf = substr(buf, 1, length(buf) - 1)
            out = ""
            for (i = 1; i <= length(buf); i++) {
                c = substr(buf, i, 1)
                if (c == "\\") out = out "\\\\"
                else if (c == "\"") out = out "\\\""
                else if (c in ctl) out = out ctl[c]
                else out = out c
            }
            printf "\"%s\"", out
        }'
}

NL='
'

# JSON string of symlink $1's target; keeps trailing newlines, which $(readlink) would eat.
json_link_target() {
    l_out=$(readlink -- "$1"; printf x)
    l_out=${l_out%x}
    json_str "${l_out%"$NL"}"
}

# JSON string of $1, or null when $1 is empty.
json_str_or_null() {
    if [ -n "$1" ]; then json_str "$1"; else printf 'null'; fi
}

# JSON number of $1 when it is a decimal integer, else null.
json_int_or_null() {
    case $1 in
        '' | *[!0-9]*) printf 'null' ;;
        *) printf '%s' "$1" ;;
    esac
}

# Name of numeric id $2 in the passwd/group file $1 (empty when unknown).
id_name() {
    [ -r "$1" ] || return 0
    awk -F: -v id="$2" '$3 == id { print $1; exit }' "$1"
}

# Numeric id of group $1 from the node's /etc/group (empty when absent).
group_gid() {
    [ -r "$ROOT/etc/group" ] || return 0
    awk -F: -v n="$1" '$1 == n { print $3; exit }' "$ROOT/etc/group"
}

# First line of file $1 without the trailing newline (empty when unreadable).
read_line() {
    [ -r "$1" ] || return 0
    sed -n '1p' "$1"
}

# Closes a JSON array opened with '[': on its own line (indent $2) unless empty ($1 = '').
close_array() {
    if [ -n "$1" ]; then printf '\n%s]' "$2"; else printf ']'; fi
}

# One device-node object for host path $1 (ROOT is prepended here): what stat says of the path
# itself, or with $2 = -L of what a symlink there points to (as PVE stats a devN path).  One stat
# call gives the type and the mode bits (%f, raw mode in hex) with the owners and the device
# number (%t %T, hex), so the type and the numbers come from the same look at the file.
node_json() {
    n_path=$1
    n_file=$ROOT$n_path
    if [ "${2-}" = -L ]; then
        n_stat=$(stat -L -c '%f %t %T %u %g' -- "$n_file" 2>/dev/null) || return 1
    else
        n_stat=$(stat -c '%f %t %T %u %g' -- "$n_file" 2>/dev/null) || return 1
    fi
    # shellcheck disable=SC2086 # split the five stat fields on purpose
    set -- $n_stat
    [ $# -eq 5 ] || return 1
    n_raw=$((0x$1))
    case $((n_raw & 0xF000)) in  # S_IFMT
        8192) n_type=c ;;    # S_IFCHR
        24576) n_type=b ;;   # S_IFBLK
        16384) n_type=d ;;   # S_IFDIR
        32768) n_type=f ;;   # S_IFREG
        40960) n_type=l ;;   # S_IFLNK
        4096) n_type=p ;;    # S_IFIFO
        49152) n_type=s ;;   # S_IFSOCK
        *) return 1 ;;
    esac
    n_uid=$4 n_gid=$5 n_major='' n_minor=''
    if [ "$n_type" = c ] || [ "$n_type" = b ]; then
        n_major=$((0x$2))
        n_minor=$((0x$3))
    fi
    printf '{"path": %s, "type": "%s", "major": %s, "minor": %s, ' \
        "$(json_str "$n_path")" "$n_type" "$(json_int_or_null "$n_major")" "$(json_int_or_null "$n_minor")"
    printf '"uid": %s, "owner": %s, "gid": %s, "group": %s, "mode": "%04o"' \
        "$n_uid" "$(json_str_or_null "$(id_name "$ROOT/etc/passwd" "$n_uid")")" \
        "$n_gid" "$(json_str_or_null "$(id_name "$ROOT/etc/group" "$n_gid")")" $((n_raw & 0xFFF))
    if [ "$n_type" = l ]; then printf ', "target": %s' "$(json_link_target "$n_file")"; fi
    printf '}'
}

# Device nodes a GPU container may need, as a JSON array.
devices_json() {
    d_sep=''
    printf '['
    # .[!.]* and ..?* : names starting with a dot too (POSIX sh globs skip them), never . or ..
    for d_file in "$ROOT"/dev/dri/* "$ROOT"/dev/dri/.[!.]* "$ROOT"/dev/dri/..?* "$ROOT"/dev/nvidia* \
        "$ROOT"/dev/nvidia-caps/* \
        "$ROOT"/dev/nvidia-caps-imex-channels/* "$ROOT"/dev/kfd "$ROOT"/dev/accel/*; do
        [ -e "$d_file" ] || [ -L "$d_file" ] || continue
        d_obj=$(node_json "${d_file#"$ROOT"}") || continue
        printf '%s\n    %s' "$d_sep" "$d_obj"
        d_sep=','
    done
    close_array "$d_sep" '  '
}

# udev's /dev/dri/by-path links (pci-<address>-card|render -> ../cardN).
by_path_json() {
    b_sep=''
    printf '['
    for b_file in "$ROOT"/dev/dri/by-path/*; do
        [ -L "$b_file" ] || continue
        printf '%s\n    {"link": %s, "target": %s}' "$b_sep" \
            "$(json_str "${b_file#"$ROOT"}")" "$(json_link_target "$b_file")"
        b_sep=','
    done
    close_array "$b_sep" '  '
}

# DRM minors from sysfs with the bus device behind each (PCI address, ids, driver).
drm_json() {
    r_sep=''
    printf '['
    for r_dir in "$ROOT"/sys/class/drm/*; do
        r_name=${r_dir##*/}
        case $r_name in
            *-*) continue ;;   # connectors such as card0-HDMI-A-1
            card[0-9]* | renderD[0-9]* | controlD[0-9]*) ;;
            *) continue ;;
        esac
        r_bus=''
        [ -L "$r_dir/device" ] && r_bus=$(readlink -- "$r_dir/device") && r_bus=${r_bus##*/}
        r_subsys='' r_driver=''
        [ -L "$r_dir/device/subsystem" ] && r_subsys=$(readlink -- "$r_dir/device/subsystem") && r_subsys=${r_subsys##*/}
        [ -L "$r_dir/device/driver" ] && r_driver=$(readlink -- "$r_dir/device/driver") && r_driver=${r_driver##*/}
        printf '%s\n    {"name": %s, "dev": %s, "bus_id": %s, "subsystem": %s, ' "$r_sep" \
            "$(json_str "$r_name")" "$(json_str_or_null "$(read_line "$r_dir/dev")")" \
            "$(json_str_or_null "$r_bus")" "$(json_str_or_null "$r_subsys")"
        printf '"vendor": %s, "device": %s, "driver": %s}' \
            "$(json_str_or_null "$(read_line "$r_dir/device/vendor")")" \
            "$(json_str_or_null "$(read_line "$r_dir/device/device")")" \
            "$(json_str_or_null "$r_driver")"
        r_sep=','
    done
    close_array "$r_sep" '  '
}

# /proc/devices as {"char": [[major, name], ...], "block": [...]}.
proc_devices_json() {
    if [ ! -r "$ROOT/proc/devices" ]; then
        printf '{"char": [], "block": []}'
        return 0
    fi
    awk '
        function esc(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return s }
        /^Character devices:/ { sec = "char"; next }
        /^Block devices:/ { sec = "block"; next }
        sec != "" && $1 ~ /^[0-9]+$/ && NF >= 2 {
            name = $0; sub(/^[ \t]*[0-9]+[ \t]+/, "", name)
            item = "[" ($1 + 0) ", \"" esc(name) "\"]"
            if (sec == "char") ch = ch (ch == "" ? "" : ", ") item
            else bl = bl (bl == "" ? "" : ", ") item
        }
        END { printf "{\"char\": [%s], \"block\": [%s]}", ch, bl }
    ' "$ROOT/proc/devices"
}

# Value after the first colon of the line starting with $2 in file $1, trimmed.
info_field() {
    [ -r "$1" ] || return 0
    awk -v key="$2" '
        index($0, key ":") == 1 {
            v = substr($0, length(key) + 2)
            gsub(/^[ \t]+|[ \t]+$/, "", v)
            print v
            exit
        }' "$1"
}

# NVIDIA kernel driver: version file, module version and each GPU's Device Minor.
nvidia_json() {
    v_file=$ROOT/proc/driver/nvidia/version
    if [ ! -r "$v_file" ]; then
        printf 'null'
        return 0
    fi
    printf '{"version_file": %s, "module_version": %s, "gpus": [' \
        "$(json_str "$(cat "$v_file")")" \
        "$(json_str_or_null "$(read_line "$ROOT/sys/module/nvidia/version")")"
    g_sep=''
    for g_dir in "$ROOT"/proc/driver/nvidia/gpus/*; do
        [ -d "$g_dir" ] || continue
        g_info=$g_dir/information
        printf '%s\n      {"pci": %s, "device_minor": %s, "model": %s, "uuid": %s}' "$g_sep" \
            "$(json_str "${g_dir##*/}")" \
            "$(json_int_or_null "$(info_field "$g_info" "Device Minor")")" \
            "$(json_str_or_null "$(info_field "$g_info" "Model")")" \
            "$(json_str_or_null "$(info_field "$g_info" "GPU UUID")")"
        g_sep=','
    done
    close_array "$g_sep" '    '
    printf '}'
}

# root's ranges from /etc/subuid or /etc/subgid ($1) as [{"start": n, "count": n}].  An unreadable
# file prints $2, by default [] (root may map nothing: what newuidmap makes of it); the probe of
# `pve-gpu-lxc check` passes null, to tell a missing file apart.
subid_json() {
    if [ ! -r "$1" ]; then
        printf '%s' "${2-[]}"
        return 0
    fi
    awk -F: '
        ($1 == "root" || $1 == "0") && $2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ {
            out = out (out == "" ? "" : ", ") "{\"start\": " ($2 + 0) ", \"count\": " ($3 + 0) "}"
        }
        END { printf "[%s]", out }' "$1"
}

# ---------------------------------------------------------------- container templates
TAB=$(printf '\t')

# "<storeid><TAB><template cache directory>" for every enabled storage with vztmpl content that
# node $1 may use, read from /etc/pve/storage.cfg with PVE::Storage::Plugin::parse_config's rules:
# `local` is always a dir storage at /var/lib/vz (the default, with vztmpl, when it is missing or
# different) and has no node restriction; a storage without `content` has its plugin's default,
# which never includes vztmpl; nfs/cifs/cephfs/glusterfs mount at /mnt/pve/<storeid> unless `path`
# is set; `content-dirs vztmpl=<dir>` moves the cache from template/cache.
template_dirs() {
    { [ -r "$ROOT/etc/pve/storage.cfg" ] && cat -- "$ROOT/etc/pve/storage.cfg"; } | awk -v node="$1" '
        function flush() { if (id != "") { n++; ids[n] = id; typ[id] = t } id = "" }
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { flush(); next }
        /^[^ \t][^ \t]*:[ \t]*[^ \t]+[ \t]*$/ {
            flush(); t = $0; sub(/:.*/, "", t); id = $0; sub(/^[^:]*:[ \t]*/, "", id); sub(/[ \t]+$/, "", id)
            if (id in typ) id = ""   # a duplicate section: PVE keeps the first
            next
        }
        /^[ \t]/ && id != "" {
            line = $0; sub(/^[ \t]+/, "", line); sub(/[ \t]+$/, "", line)
            key = line; sub(/[ \t].*/, "", key)
            val = substr(line, length(key) + 1); sub(/^[ \t]+/, "", val)
            if (val == "") val = "1"
            prop[id, key] = val
        }
        END {
            flush()
            if (!("local" in typ) || typ["local"] != "dir" || (prop["local", "path"] != "" && prop["local", "path"] != "/var/lib/vz")) {
                if (!("local" in typ)) { n++; ids[n] = "local" }
                typ["local"] = "dir"
                split("path nodes disable content-dirs", drop, " ")
                for (d in drop) delete prop["local", drop[d]]
                prop["local", "content"] = "vztmpl,iso,backup,snippets,images,rootdir"
            }
            if (prop["local", "path"] == "") prop["local", "path"] = "/var/lib/vz"
            delete prop["local", "nodes"]
            for (i = 1; i <= n; i++) {
                s = ids[i]; t = typ[s]
                if (("," prop[s, "content"] ",") !~ /,[ \t]*vztmpl[ \t]*,/) continue
                if (prop[s, "disable"] != "" && prop[s, "disable"] != "0") continue
                if (prop[s, "nodes"] != "" && ("," prop[s, "nodes"] ",") !~ ("," node ",")) continue
                if (t == "dir" || t == "btrfs") path = prop[s, "path"]
                else if (t == "nfs" || t == "cifs" || t == "cephfs" || t == "glusterfs")
                    path = prop[s, "path"] != "" ? prop[s, "path"] : "/mnt/pve/" s
                else continue
                if (path == "") continue
                sub_dir = "template/cache"
                cd = "," prop[s, "content-dirs"] ","
                if (match(cd, /,[ \t]*vztmpl=[^,]*,/)) {
                    sub_dir = substr(cd, RSTART + 1, RLENGTH - 2); sub(/^[ \t]*vztmpl=/, "", sub_dir)
                }
                sub(/\/+$/, "", path)
                printf "%s\t%s/%s\n", s, path, sub_dir
            }
        }'
}

# GNU tar stops reading at the member with --occurrence=1; busybox tar lacks it and reads on.
tar_stop=''
if tar --help 2>/dev/null | grep -q -e '--occurrence'; then tar_stop=--occurrence=1; fi

# Template file $1 decompressed to stdout with tool $2 ('' for a plain .tar).  The tool's
# stderr is dropped: it complains about the closed pipe when tar stops early; tar reports
# a damaged stream itself.
decompress() {
    if [ -n "$2" ]; then "$2" -dc -- "$1" 2>/dev/null; else cat -- "$1" 2>/dev/null; fi
}

# The first member name of template $1 (tool $2): "./" when dab-style `tar -C rootfs .` names.
first_member() {
    decompress "$1" "$2" | tar -tf - 2>/dev/null | sed -n '1{p;q;}'
}

# Member $3 of template $1 (tool $2) through tar -xO, reduced to lines "gid <video|render> N",
# "rc <tar's exit status>", "dec <the tool's exit status>" and "err <tar's first message>".
# With GNU tar the rest of the archive is never decompressed ($tar_stop).
# shellcheck disable=SC2086 # $tar_stop is one option or none
member_groups() {
    { { decompress "$1" "$2"; printf 'dec %s\n' "$?" >&3; } \
        | { tar -xOf - $tar_stop -- "$3" 2>&1; printf '\nrc %s\n' "$?"; } \
        | awk -F: '
            /^rc [0-9]+$/ { rc = substr($0, 4); next }
            /^tar: / { if (err == "" && $0 !~ /Exiting with failure status/) err = substr($0, 6); next }
            ($1 == "video" || $1 == "render") && $3 ~ /^[0-9]+$/ && !($1 in gid) { gid[$1] = $3 + 0 }
            END { for (g in gid) print "gid " g " " gid[g]; print "rc " rc; if (err != "") print "err " err }'
    } 3>&1
}

# Value of the first "<key> <value>" line of $1.
field() {
    printf '%s\n' "$1" | sed -n "s/^$2 //p" | sed -n '1p'
}

# ---------------------------------------------------------------- OCI images (PVE >= 9.1)
# PVE's oci-registry-pull stores an image as an OCI archive, `<name>.tar` in a template cache;
# a create from it runs pve-container's restore_oci_archive (src/PVE/LXC/Create.pm), which takes
# the image config's Entrypoint, Cmd, Env, User, WorkingDir and StopSignal (`pve_gpu_lxc.pve.oci`
# maps them as it does).  Recorded here: the config blob verbatim and, for a User, the image's
# /etc/passwd and /etc/group lines that resolve it (resolve_oci_user).  Everything is streamed
# (tar -xO to stdout); nothing is unpacked.

# Create.pm archive_is_oci_format: a .tar ($1) whose listing has the lines oci-layout, index.json
# and one under blobs/.
is_oci_archive() {
    case $1 in *.tar) ;; *) return 1 ;; esac
    tar -tf "$1" 2>/dev/null | awk '
        $0 == "oci-layout" { l = 1 } $0 == "index.json" { i = 1 } /^blobs\// { b = 1 }
        END { exit !(l && i && b) }'
}

# A JSON document on stdin as "<path><TAB><value>" lines, one per string, number, true, false or
# null (paths like .manifests[0].digest); strings unescaped (\uXXXX only below 0x80), tabs and
# newlines in them printed as spaces.
json_flat() {
    awk '
        { T = T $0 "\n" }
        function ws() { while (pos <= len && index(" \t\n\r", substr(T, pos, 1)) > 0) pos++ }
        function hexval(h,   i, v) {
            v = 0
            for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", tolower(substr(h, i, 1))) - 1
            return v
        }
        function str(   c, out, h) {
            pos++
            out = ""
            while (pos <= len) {
                c = substr(T, pos, 1)
                if (c == "\"") { pos++; return out }
                if (c == "\\") {
                    pos++
                    c = substr(T, pos, 1)
                    if (c == "u") {
                        h = substr(T, pos + 1, 4)
                        if (h ~ /^00[0-7][0-9A-Fa-f]$/ && h !~ /^000/) c = sprintf("%c", hexval(h)); else c = "\\u" h
                        pos += 4
                    } else if (c == "n" || c == "t" || c == "r" || c == "b" || c == "f") c = " "
                    out = out c
                    pos++
                    continue
                }
                out = out c
                pos++
            }
            return out
        }
        function value(path,   c, k, i) {
            ws()
            c = substr(T, pos, 1)
            if (c == "{" || c == "[") {
                pos++
                ws()
                if (substr(T, pos, 1) == (c == "{" ? "}" : "]")) { pos++; return }
                for (i = 0; ; i++) {
                    if (c == "{") {
                        ws(); k = str(); ws(); pos++   # the key and its colon
                        value(path "." k)
                    } else value(path "[" i "]")
                    ws()
                    k = substr(T, pos, 1)
                    pos++
                    if (k != ",") return
                }
            }
            if (c == "\"") { k = str(); gsub(/[\t\n]/, " ", k); print path "\t" k; return }
            k = ""
            while (pos <= len && index(",]} \t\n\r", substr(T, pos, 1)) == 0) { k = k substr(T, pos, 1); pos++ }
            print path "\t" k
        }
        END { len = length(T); pos = 1; if (T ~ /[^ \t\n\r]/) value("") }'
}

# Value of the first "<path><TAB><value>" line of json_flat output $1 whose path is $2.
flat_value() {
    printf '%s\n' "$1" | awk -F'\t' -v p="$2" '$1 == p { print substr($0, length(p) + 2); exit }'
}

# The archive member of blob digest $1 ("sha256:<hex>" -> blobs/sha256/<hex>).
blob_member() {
    printf 'blobs/%s/%s' "${1%%:*}" "${1#*:}"
}

# Whether proxmox-oci unpacks a layer of media type $1 (tar, tar+gzip, tar+zstd; Docker's names too).
oci_layer_type() {
    case $1 in
        *+gzip | *.tar.gzip | *+zstd | *.tar.zstd | *.tar | *.rootfs.diff.tar) return 0 ;;
        *) return 1 ;;
    esac
}

# Layer blob $2 (a digest) of archive $1, uncompressed to stdout by its media type $3.
oci_layer() {
    case $3 in
        *+gzip | *.tar.gzip) tar -xOf "$1" "$(blob_member "$2")" 2>/dev/null | gzip -dc 2>/dev/null ;;
        *+zstd | *.tar.zstd) tar -xOf "$1" "$(blob_member "$2")" 2>/dev/null | zstd -dc 2>/dev/null ;;
        *) tar -xOf "$1" "$(blob_member "$2")" 2>/dev/null ;;
    esac
}

# Member $4 of layer $2 (media type $3) of archive $1, to stdout.
# shellcheck disable=SC2086 # $tar_stop is one option or none
oci_layer_member() {
    oci_layer "$1" "$2" "$3" | tar -xOf - $tar_stop -- "$4" 2>/dev/null
}

# The lines of the image's passwd ($1 = passwd, text on stdin) or group ($1 = group) file that
# resolve_oci_user reads for the User `user[:group]` in $OCI_USER (and, for group, the user name in
# $OCI_USERNAME): passwd lines of that name, uid or the name's uid; group lines of the group's name
# or listing the user as a member.  Kept in their order, so every first match stays the first.
oci_user_lines() {
    awk -F: -v kind="$1" '
        BEGIN {
            u = ENVIRON["OCI_USER"]; g = ""
            if (index(u, ":") > 0) { g = substr(u, index(u, ":") + 1); u = substr(u, 1, index(u, ":") - 1) }
            name = ENVIRON["OCI_USERNAME"]
        }
        { line[NR] = $0; f1[NR] = $1; f3[NR] = $3; f4[NR] = $4 }
        kind == "passwd" && uid == "" && $1 == u { uid = $3 }
        END {
            if (kind == "passwd" && u ~ /^[0-9]+$/) uid = u
            for (i = 1; i <= NR; i++) {
                keep = 0
                if (kind == "passwd") keep = (f1[i] == u || (uid != "" && f3[i] == uid))
                else {
                    if (g != "" && f1[i] == g) keep = 1
                    n = split(f4[i], members, ",")
                    for (m = 1; m <= n; m++) if (name != "" && members[m] == name) keep = 1
                }
                if (keep) print line[i]
            }
        }'
}

# The user name resolve_oci_user looks for in /etc/group: the name of $OCI_USER's user (from the
# passwd lines on stdin for a numeric one); empty when it has none or names a group.
oci_username() {
    case $OCI_USER in *:*) return 0 ;; esac
    case $OCI_USER in
        '' | *[!0-9]*) printf '%s' "$OCI_USER" ;;
        *) awk -F: -v u="$OCI_USER" '$3 == u { print $1; exit }' ;;
    esac
}

# The OCI image in archive $1 (the first image manifest of index.json, as proxmox-oci picks it) as
# {"manifest", "config", "user", "passwd", "passwd_layer", "group", "group_layer", "error"}: the
# manifest's digest, the config blob's text, its User, and for a User the lines of the image's
# /etc/passwd and /etc/group that resolve it (oci_user_lines; null: the image has no such file),
# each from the last layer holding the file (a later layer's whiteout of it, or of etc/, removes
# it); "error" says what could not be read.  Each layer is listed (a full read), then the two
# files are extracted from theirs.
oci_image_json() {
    k_config='' k_user='' k_passwd='' k_group='' k_error='' k_flat=''
    k_passwd_layer='' k_passwd_type='' k_passwd_member='' k_group_layer='' k_group_type='' k_group_member=''
    k_manifest=$(tar -xOf "$1" index.json 2>/dev/null | json_flat | awk -F'\t' '
        $1 ~ /^\.manifests\[[0-9]+\]\.mediaType$/ && $2 == "application/vnd.oci.image.manifest.v1+json" && want == "" {
            want = $1; sub(/\.mediaType$/, ".digest", want)
        }
        want != "" && $1 == want { print $2; exit }')
    if [ -z "$k_manifest" ]; then
        k_error="index.json names no image manifest (application/vnd.oci.image.manifest.v1+json)"
    else
        k_flat=$(tar -xOf "$1" "$(blob_member "$k_manifest")" 2>/dev/null | json_flat)
        k_digest=$(flat_value "$k_flat" .config.digest)
        if [ -z "$k_flat" ]; then
            k_error="the image manifest $k_manifest is missing"
        elif [ "$(flat_value "$k_flat" .config.mediaType)" != application/vnd.oci.image.config.v1+json ] \
            || [ -z "$k_digest" ]; then
            k_error="the image manifest $k_manifest names no image config"
        else
            k_config=$(tar -xOf "$1" "$(blob_member "$k_digest")" 2>/dev/null; printf x)
            k_config=${k_config%x}
            if [ -z "$k_config" ]; then
                k_error="the image config $k_digest is missing"
            else
                k_user=$(flat_value "$(printf '%s' "$k_config" | json_flat)" .config.User)
            fi
        fi
    fi
    # restore_oci_archive resolves a User that perl calls true (not empty, not "0")
    if [ -z "$k_error" ] && [ -n "$k_user" ] && [ "$k_user" != 0 ]; then
        k_layers=$(printf '%s\n' "$k_flat" | awk -F'\t' '
            $1 ~ /^\.layers\[[0-9]+\]\.(mediaType|digest)$/ {
                i = $1; sub(/^\.layers\[/, "", i); sub(/\].*/, "", i)
                if ($1 ~ /mediaType$/) type[i] = $2; else dig[i] = $2
                if (i + 1 > n) n = i + 1
            }
            END { for (i = 0; i < n; i++) print dig[i] "\t" type[i] }')
        while IFS=$TAB read -r k_layer k_type; do
            [ -n "$k_layer" ] || continue
            oci_layer_type "$k_type" || continue  # proxmox-oci skips layers of other media types
            if [ "${k_type%+zstd}" != "$k_type" ] && ! command -v zstd >/dev/null 2>&1; then
                k_error="layer $k_layer is zstd-compressed and zstd is not installed on the node"
                break
            fi
            k_found=$( { { oci_layer "$1" "$k_layer" "$k_type"; printf 'dec %s\n' "$?" >&3; } \
                | tar -tf - 2>/dev/null | awk '
                    { n = $0; sub(/^\.\//, "", n) }
                    n == ".wh.etc" || n == "etc/.wh..wh..opq" { print "gone passwd"; print "gone group" }
                    n == "etc/.wh.passwd" { print "gone passwd" }
                    n == "etc/.wh.group" { print "gone group" }
                    n == "etc/passwd" && !p { print "have passwd " $0; p = 1 }
                    n == "etc/group" && !g { print "have group " $0; g = 1 }'; } 3>&1)
            case $(field "$k_found" dec) in
                0) ;;
                *) k_error="layer $k_layer ($k_type) cannot be read"; break ;;
            esac
            # the layer's whiteouts apply first, then its own files (proxmox-oci extract_image_rootfs)
            case $k_found in *'gone passwd'*) k_passwd_member='' ;; esac
            case $k_found in *'gone group'*) k_group_member='' ;; esac
            k_member=$(field "$k_found" 'have passwd')
            [ -z "$k_member" ] || { k_passwd_layer=$k_layer k_passwd_type=$k_type k_passwd_member=$k_member; }
            k_member=$(field "$k_found" 'have group')
            [ -z "$k_member" ] || { k_group_layer=$k_layer k_group_type=$k_type k_group_member=$k_member; }
        done <<EOF_LAYERS
$k_layers
EOF_LAYERS
        [ -n "$k_passwd_member" ] || k_passwd_layer=''
        [ -n "$k_group_member" ] || k_group_layer=''
        if [ -z "$k_error" ]; then
            OCI_USER=$k_user
            export OCI_USER
            OCI_USERNAME=''
            if [ -n "$k_passwd_member" ]; then
                k_passwd=$(oci_layer_member "$1" "$k_passwd_layer" "$k_passwd_type" "$k_passwd_member"; printf x)
                k_passwd=${k_passwd%x}
                OCI_USERNAME=$(printf '%s' "$k_passwd" | oci_username)
                k_passwd=$(printf '%s' "$k_passwd" | oci_user_lines passwd; printf x)
                k_passwd=${k_passwd%x}
            else
                OCI_USERNAME=$(oci_username </dev/null)
            fi
            export OCI_USERNAME
            if [ -n "$k_group_member" ]; then
                k_group=$(oci_layer_member "$1" "$k_group_layer" "$k_group_type" "$k_group_member" \
                    | oci_user_lines group; printf x)
                k_group=${k_group%x}
            fi
            unset OCI_USER OCI_USERNAME
        fi
    fi
    printf '{"manifest": %s, "config": %s, "user": %s, ' "$(json_str_or_null "$k_manifest")" \
        "$(json_str_or_null "$k_config")" "$(json_str_or_null "$k_user")"
    if [ -n "$k_passwd_member" ] && [ -z "$k_error" ]; then k_out=$(json_str "$k_passwd"); else k_out=null; fi
    printf '"passwd": %s, "passwd_layer": %s, ' "$k_out" "$(json_str_or_null "$k_passwd_layer")"
    if [ -n "$k_group_member" ] && [ -z "$k_error" ]; then k_out=$(json_str "$k_group"); else k_out=null; fi
    printf '"group": %s, "group_layer": %s, "error": %s}' "$k_out" "$(json_str_or_null "$k_group_layer")" \
        "$(json_str_or_null "$k_error")"
}

# One template object: storage $1, node path $2 of the file.
template_json() {
    p_store=$1 p_path=$2 p_file=$ROOT$2
    p_name=${p_path##*/}
    case $p_name in
        *.tar.zst) p_tool=zstd ;;
        *.tar.xz) p_tool=xz ;;
        *.tar.gz) p_tool=gzip ;;
        *.tar.bz2) p_tool=bzip2 ;;
        *.tar) p_tool='' ;;
        *) return 1 ;;
    esac
    p_video='' p_render='' p_video_from='' p_render_from='' p_error='' p_found='' p_oci=null
    if [ -z "$p_tool" ] && [ -r "$p_file" ] && is_oci_archive "$p_file"; then
        # an application image (PVE's oci-registry-pull): no /etc/group of a system template to read;
        # the app's ids are its User's (the oci object)
        p_oci=$(oci_image_json "$p_file")
    elif [ -n "$p_tool" ] && ! command -v "$p_tool" >/dev/null 2>&1; then
        p_error="$p_tool is not installed on the node"
    elif [ ! -r "$p_file" ]; then
        p_error="not readable"
    else
        case $(first_member "$p_file" "$p_tool") in
            . | ./*) p_prefixes='./ -' ;;
            *) p_prefixes='- ./' ;;
        esac
        for p_prefix in $p_prefixes; do
            [ "$p_prefix" = - ] && p_prefix=''
            p_member=${p_prefix}etc/group
            p_out=$(member_groups "$p_file" "$p_tool" "$p_member")
            p_rc=$(field "$p_out" rc)
            if [ "$p_rc" = 0 ]; then
                p_found=$p_prefix
                p_video=$(field "$p_out" 'gid video') p_render=$(field "$p_out" 'gid render')
                [ -n "$p_video" ] && p_video_from=$p_member
                [ -n "$p_render" ] && p_render_from=$p_member
                break
            fi
            p_err=$(field "$p_out" err)
            case $p_err in
                *[Nn]'ot found in archive'*) continue ;;
            esac
            p_dec=$(field "$p_out" dec)
            p_error="tar -x ${p_member}: ${p_err:-exit status $p_rc}"
            case $p_dec in
                '' | 0 | 141) ;;
                *) p_error="$p_tool -dc failed (exit status $p_dec); $p_error" ;;
            esac
            break
        done
        if [ -z "$p_error" ] && [ -z "$p_found" ] && [ "$p_rc" != 0 ]; then
            p_error="no ./etc/group or etc/group member: not a container template"
        fi
        # systemd's sysusers defaults or a distro's split files: /usr/lib/group for what /etc lacks
        if [ -z "$p_error" ] && { [ -z "$p_video" ] || [ -z "$p_render" ]; }; then
            p_member=${p_found}usr/lib/group
            p_out=$(member_groups "$p_file" "$p_tool" "$p_member")
            if [ "$(field "$p_out" rc)" = 0 ]; then
                if [ -z "$p_video" ]; then
                    p_video=$(field "$p_out" 'gid video')
                    [ -n "$p_video" ] && p_video_from=$p_member
                fi
                if [ -z "$p_render" ]; then
                    p_render=$(field "$p_out" 'gid render')
                    [ -n "$p_render" ] && p_render_from=$p_member
                fi
            fi
        fi
    fi
    printf '{"volid": %s, "storage": %s, "file": %s, "path": %s, ' \
        "$(json_str "$p_store:vztmpl/$p_name")" "$(json_str "$p_store")" "$(json_str "$p_name")" \
        "$(json_str "$p_path")"
    printf '"video": %s, "render": %s, "video_member": %s, "render_member": %s, "error": %s, "oci": %s}' \
        "$(json_int_or_null "$p_video")" "$(json_int_or_null "$p_render")" \
        "$(json_str_or_null "$p_video_from")" "$(json_str_or_null "$p_render_from")" \
        "$(json_str_or_null "$p_error")" "$p_oci"
}

# Every template in the node's template caches, as a JSON array.
templates_json() {
    template_dirs "$1" | {
        t_sep=''
        printf '['
        while IFS=$TAB read -r t_store t_dir; do
            for t_file in "$ROOT$t_dir"/*; do
                [ -f "$t_file" ] || continue
                t_obj=$(template_json "$t_store" "${t_file#"$ROOT"}") || continue
                printf '%s\n    %s' "$t_sep" "$t_obj"
                t_sep=','
            done
        done
        close_array "$t_sep" '  '
    }
}

# ---------------------------------------------------------------- boot configuration
# What a reboot runs before pve-guests.service starts the onboot guests, where it concerns NVIDIA:
# the text of every modules-load.d / modprobe.d file, systemd service unit and udev rule file that
# mentions nvidia (any case), and the .wants/.requires links that enable those units.  The library
# replays it (pve_gpu_lxc.facts.boot) to tell which on-demand NVIDIA nodes exist after a reboot.
# "<path>" lines of the boot files that mention nvidia.
boot_files() {
    for o_file in "$ROOT"/etc/modules "$ROOT"/etc/modules-load.d/*.conf "$ROOT"/run/modules-load.d/*.conf \
        "$ROOT"/usr/lib/modules-load.d/*.conf "$ROOT"/etc/modprobe.d/*.conf "$ROOT"/usr/lib/modprobe.d/*.conf \
        "$ROOT"/etc/systemd/system/*.service "$ROOT"/usr/lib/systemd/system/*.service \
        "$ROOT"/etc/udev/rules.d/*.rules "$ROOT"/usr/lib/udev/rules.d/*.rules; do
        if [ ! -f "$o_file" ] || [ ! -r "$o_file" ]; then continue; fi
        grep -qi nvidia -- "$o_file" 2>/dev/null || continue
        printf '%s\n' "${o_file#"$ROOT"}"
    done
}

boot_json() {
    o_files=$(boot_files)
    printf '{"files": ['
    o_sep='' o_units=''
    while IFS= read -r o_path; do
        [ -n "$o_path" ] || continue
        o_text=$(cat -- "$ROOT$o_path"; printf x)
        printf '%s\n      {"path": %s, "text": %s}' "$o_sep" "$(json_str "$o_path")" "$(json_str "${o_text%x}")"
        o_sep=','
        case $o_path in */systemd/system/*.service) o_units="$o_units ${o_path##*/}" ;; esac
    done <<EOF_BOOT
$o_files
EOF_BOOT
    close_array "$o_sep" '    '
    printf ', "enabled": ['
    o_sep=''
    for o_link in "$ROOT"/etc/systemd/system/*.wants/* "$ROOT"/etc/systemd/system/*.requires/*; do
        [ -L "$o_link" ] || continue
        case " $o_units " in *" ${o_link##*/} "*) ;; *) continue ;; esac
        printf '%s\n      {"link": %s, "target": %s}' "$o_sep" "$(json_str "${o_link#"$ROOT"}")" \
            "$(json_link_target "$o_link")"
        o_sep=','
    done
    close_array "$o_sep" '    '
    printf '}'
}

# The path of program $1 in root's standard bin directories (what `command -v` finds on root's
# PATH over ssh), read under ROOT; empty when absent.
program_path() {
    for m_dir in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
        if [ -x "$ROOT$m_dir/$1" ]; then
            printf '%s' "$m_dir/$1"
            return 0
        fi
    done
}

# The version dpkg records for installed package $1 (what `dpkg-query -W -f '${Version}' $1` prints
# for it), from $ROOT/var/lib/dpkg/status, the file dpkg-query reads; empty when not installed.
dpkg_version() {
    [ -r "$ROOT/var/lib/dpkg/status" ] || return 0
    awk -v want="$1" '
        function flush() { if (pkg == want && ok && !done) { print ver; done = 1 } pkg = ""; ok = 0; ver = "" }
        /^$/ { flush(); next }
        /^Package: / { pkg = substr($0, 10) }
        /^Status: / { ok = ($0 ~ / installed$/) }
        /^Version: / { ver = substr($0, 10) }
        END { flush() }' "$ROOT/var/lib/dpkg/status"
}

# NVIDIA's userspace from the host in application containers (NvidiaGpu(runtime="host")): LXC's
# nvidia mount hook runs nvidia-container-cli (NVIDIA's libnvidia-container-tools).  Recorded: the
# CLI's path and the first two lines of its --version (cli-version, lib-version), whether the hook is
# executable, and the LXC package's version (lxc-pve >= 6.0.5-3 knows lxc.environment.hooks; Debian's
# lxc where lxc-pve is not installed).
nvidia_runtime_json() {
    v_cli=$(program_path nvidia-container-cli)
    v_version=''
    [ -z "$v_cli" ] || v_version=$("$ROOT$v_cli" --version 2>/dev/null | sed -n '1,2p')
    v_hook=false
    [ -x "$ROOT/usr/share/lxc/hooks/nvidia" ] && v_hook=true
    v_package=lxc-pve
    v_lxc=$(dpkg_version lxc-pve)
    if [ -z "$v_lxc" ]; then
        v_package=lxc
        v_lxc=$(dpkg_version lxc)
    fi
    [ -n "$v_lxc" ] || v_package=''
    printf '{"cli": %s, "cli_version": %s, "lxc_hook": %s, "lxc_package": %s, "lxc_version": %s}' \
        "$(json_str_or_null "$v_cli")" "$(json_str_or_null "$v_version")" "$v_hook" \
        "$(json_str_or_null "$v_package")" "$(json_str_or_null "$v_lxc")"
}

# nvidia-modprobe creates the on-demand NVIDIA nodes (a unit before pve-guests.service runs it: host-setup).
nvidia_modprobe=$(program_path nvidia-modprobe)

# The node name as PVE derives it (PVE::INotify::nodename: the host name up to the first dot);
# /etc/hostname where /proc is not mounted (a chroot).
hostname=$(read_line "$ROOT/proc/sys/kernel/hostname")
[ -n "$hostname" ] || hostname=$(read_line "$ROOT/etc/hostname")
hostname=${hostname%%.*}

pve_version=''
if command -v pveversion >/dev/null 2>&1; then
    pve_version=$(pveversion 2>/dev/null | sed -n '1p')
fi

printf '{\n'
printf '  "schema": "pve-gpu-lxc/host-facts",\n'
printf '  "schema_version": %s,\n' "$SCHEMA_VERSION"
printf '  "collected_at": %s,\n' "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
printf '  "hostname": %s,\n' "$(json_str_or_null "$hostname")"
printf '  "kernel": %s,\n' "$(json_str_or_null "$(read_line "$ROOT/proc/sys/kernel/osrelease")")"
printf '  "pve_version": %s,\n' "$(json_str_or_null "$pve_version")"
printf '  "devices": %s,\n' "$(devices_json)"
printf '  "dri_by_path": %s,\n' "$(by_path_json)"
printf '  "drm": %s,\n' "$(drm_json)"
printf '  "proc_devices": %s,\n' "$(proc_devices_json)"
printf '  "nvidia": %s,\n' "$(nvidia_json)"
printf '  "nvidia_modprobe": %s,\n' "$(json_str_or_null "$nvidia_modprobe")"
printf '  "nvidia_runtime": %s,\n' "$(nvidia_runtime_json)"
printf '  "groups": {"video": %s, "render": %s},\n' \
    "$(json_int_or_null "$(group_gid video)")" "$(json_int_or_null "$(group_gid render)")"
printf '  "subuid": %s,\n' "$(subid_json "$ROOT/etc/subuid")"
printf '  "subgid": %s,\n' "$(subid_json "$ROOT/etc/subgid")"
printf '  "templates": %s,\n' "$(templates_json "$hostname")"
printf '  "boot": %s\n' "$(boot_json)"
printf '}\n'
