#!/usr/bin/env bash
# A one-node Slurm on this machine, for tests of `sweep submit` (needs root, as CI runs):
#   scripts/slurm.sh up     installs Debian's slurmctld, slurmd, slurm-client and munge if missing,
#                           writes a slurm.conf with this host as the only node (its real CPU
#                           count and memory), starts munged, slurmctld and slurmd, waits for idle
#   scripts/slurm.sh down   stops the daemons it started (by their pid files)
# State, logs and pid files live under $SWEEP_SLURM_DIR (default /tmp/sweep-slurm).
# See ../shared/notes/slurm.md for why these settings (no cgroups, no accounting).
set -euo pipefail
dir=${SWEEP_SLURM_DIR:-/tmp/sweep-slurm}
conf=/etc/slurm/slurm.conf

up() {
  if ! command -v slurmctld >/dev/null || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
  fi
  mkdir -p "$dir"/{state,spool,log} /etc/slurm /run/munge /var/log/munge /var/lib/munge /etc/munge
  if [ ! -s /etc/munge/munge.key ]; then
    head -c 1024 /dev/urandom >/etc/munge/munge.key
  fi
  chown munge:munge /etc/munge/munge.key /run/munge /var/log/munge /var/lib/munge /etc/munge
  chmod 400 /etc/munge/munge.key
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
  fi
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
  cat >"$conf" <<CONF
ClusterName=sweep
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
MpiDefault=none
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  [ -e "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null || slurmctld
  [ -e "$dir/slurmd.pid" ] && kill -0 "$(cat "$dir/slurmd.pid")" 2>/dev/null || slurmd
  for _ in $(seq 60); do
    if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
      echo "slurm: $host up ($cpus CPUs, $mem MiB), state in $dir"
      return 0
    fi
    sleep 1
  done
  echo "slurm: the node did not become idle in 60 s; see $dir/log/" >&2
  sinfo >&2 || true
  return 1
}

down() {
  for d in slurmd slurmctld; do
    if [ -e "$dir/$d.pid" ]; then
      kill "$(cat "$dir/$d.pid")" 2>/dev/null || true
      rm -f "$dir/$d.pid"
    fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: scripts/slurm.sh up|down" >&2; exit 2 ;;
esac
