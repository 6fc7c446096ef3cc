#!/usr/bin/env bash
# tests/slurm/down.sh - stop the single-node test cluster that tests/slurm/up.sh started.
#
# Cancels the jobs still in the cluster, then stops exactly the daemons up.sh started, by the
# pids it recorded (slurmd, slurmctld, munged; each pid is checked to still be that daemon
# before it is signalled: TERM, then KILL after a bounded wait), and removes the state and
# spool directories, and the /etc/slurm/{slurm,gres}.conf that up.sh wrote (a config naming a
# stopped controller makes every `scontrol`, and so every snakemake start with the SLURM
# executor plugin installed, wait ~9 s for it). Logs are kept. Safe to run when nothing is up.
#
# Environment: RTPREF_SLURM_STATE_DIR, RTPREF_SLURM_SPOOL_DIR (as for up.sh),
#   RTPREF_SLURM_STOP_WAIT [20] seconds to wait for jobs to go and for each daemon to exit.
set -euo pipefail

export PATH="$PATH:/usr/sbin:/sbin"

STATE_DIR="${RTPREF_SLURM_STATE_DIR:-/run/rtpref-slurm}"
SPOOL_DIR="${RTPREF_SLURM_SPOOL_DIR:-/var/spool/rtpref-slurm}"
STOP_WAIT="${RTPREF_SLURM_STOP_WAIT:-20}"

say() { echo "tests/slurm/down.sh: $*"; }
die() {
    echo "tests/slurm/down.sh: ERROR: $*" >&2
    exit 1
}

[[ $(id -u) -eq 0 ]] || die "must run as root"
for dir in "$STATE_DIR" "$SPOOL_DIR"; do
    [[ "$dir" == /?* && "$dir" != *..* ]] || die "'$dir' must be an absolute path other than /"
done
[[ "$STOP_WAIT" =~ ^[0-9]+$ ]] || die "RTPREF_SLURM_STOP_WAIT must be a whole number"

if [[ ! -d "$STATE_DIR" ]]; then
    say "nothing to stop ($STATE_DIR does not exist)"
    exit 0
fi

is_daemon() {
    [[ "$1" =~ ^[0-9]+$ ]] && [[ "$(cat "/proc/$1/comm" 2>/dev/null)" == "$2" ]]
}

# pid_of NAME: the pid up.sh recorded, else the one the daemon wrote into our state dir
# (a daemon that started but was not yet recorded when up.sh gave up)
pid_of() {
    local file
    for file in "$STATE_DIR/$1.pid" "$STATE_DIR/pids/$1.pid" "$STATE_DIR/munge/$1.pid"; do
        if [[ -s "$file" ]]; then
            tr -dc '0-9' <"$file"
            return 0
        fi
    done
    return 1
}

stop() {
    local name="$1" pid deadline
    pid="$(pid_of "$name" || true)"
    if [[ -z "$pid" ]]; then
        say "$name: no pid recorded"
        return 0
    fi
    if ! is_daemon "$pid" "$name"; then
        say "$name: pid $pid is not running (or is no longer $name)"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_WAIT))
    while ((SECONDS < deadline)); do
        if ! is_daemon "$pid" "$name"; then
            say "$name stopped (pid $pid)"
            return 0
        fi
        sleep 0.1
    done
    say "$name (pid $pid) still running after ${STOP_WAIT}s; sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
}

# Cancel leftover jobs while the controller is up, so no job process outlives the cluster.
ctld="$(pid_of slurmctld || true)"
if [[ -n "$ctld" ]] && is_daemon "$ctld" slurmctld; then
    jobs="$(timeout 10 squeue --noheader --format='%A' 2>/dev/null | tr '\n' ' ' || true)"
    if [[ -n "${jobs// /}" ]]; then
        say "cancelling jobs $jobs"
        # shellcheck disable=SC2086 # one argument per job id
        timeout 10 scancel $jobs 2>/dev/null || true
        deadline=$((SECONDS + STOP_WAIT))
        while ((SECONDS < deadline)); do
            [[ -z "$(timeout 10 squeue --noheader --format='%A' 2>/dev/null || true)" ]] && break
            sleep 0.5
        done
    fi
fi

stop slurmd
stop slurmctld
stop munged

rm -rf "$STATE_DIR" "$SPOOL_DIR"
# Only configs whose first line is up.sh's marker; a real installation's are left alone.
for conf in /etc/slurm/slurm.conf /etc/slurm/gres.conf; do
    if [[ -f "$conf" && "$(head -n 1 "$conf")" == "# Written by rtpref tests/slurm/up.sh "* ]]; then
        rm -f "$conf"
    fi
done
say "cluster down in ${SECONDS}s; removed $STATE_DIR, $SPOOL_DIR and the test cluster's configs"
