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
# Read-only: it runs stat, readlink, cat, awk, sed, uname, date, tar and zstd/xz/gzip/bzip2,
# writes nothing and changes nothing, so it is safe as root.  POSIX sh + coreutils or busybox.
# Majors and minors are printed in DECIMAL (stat's %t/%T are hex and converted here).
# Templates in the node's template caches are streamed (decompressor | tar -xO, to stdout
# only) to read the video/render GIDs of their /etc/group; nothing is unpacked to disk.
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
    p_video='' p_render='' p_video_from='' p_render_from='' p_error='' p_found=''
    if [ -n "$p_tool" ] && ! command -v "$p_tool" >/dev/null 2>&1; then
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
    printf '"video": %s, "render": %s, "video_member": %s, "render_member": %s, "error": %s}' \
        "$(json_int_or_null "$p_video")" "$(json_int_or_null "$p_render")" \
        "$(json_str_or_null "$p_video_from")" "$(json_str_or_null "$p_render_from")" \
        "$(json_str_or_null "$p_error")"
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

# nvidia-modprobe creates the on-demand NVIDIA nodes (a unit before pve-guests.service runs it: host-setup).
nvidia_modprobe=''
for m_dir in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
    if [ -x "$ROOT$m_dir/nvidia-modprobe" ]; then
        nvidia_modprobe=$m_dir/nvidia-modprobe
        break
    fi
done

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
printf '  "groups": {"video": %s, "render": %s},\n' \
    "$(json_int_or_null "$(group_gid video)")" "$(json_int_or_null "$(group_gid render)")"
printf '  "subuid": %s,\n' "$(subid_json "$ROOT/etc/subuid")"
printf '  "subgid": %s,\n' "$(subid_json "$ROOT/etc/subgid")"
printf '  "templates": %s,\n' "$(templates_json "$hostname")"
printf '  "boot": %s\n' "$(boot_json)"
printf '}\n'
