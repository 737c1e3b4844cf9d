#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for tests and trying the scripts (Debian bookworm
# packages slurm-wlm and munge; run as root).
#   slurm/local_cluster.sh start STATE_DIR   start munged, slurmctld, slurmd; print `export SLURM_CONF=...`
#   slurm/local_cluster.sh stop STATE_DIR    cancel every job, stop the daemons by PID, remove STATE_DIR
# Everything lives in STATE_DIR (keys, sockets, spool, logs); free ports are picked at start, so
# several clusters can run side by side. Facts this relies on (measured on Debian bookworm):
# munged as root refuses the packaged key (it needs its own root-owned key) and wants a socket
# directory of mode 0755 whose parents are world-executable; srun --mpi=pmix works with Debian's
# OpenMPI, pmi2 does not; an afterok dependency on a failed job waits forever unless
# kill_invalid_depend; a SIGKILLed step leaves a PMIx directory under TmpFS that breaks the next
# step of the same id, hence a per-node TmpFS inside STATE_DIR; `scontrol shutdown` leaves job
# steps running, hence cancel first and stop daemons by PID.
set -euo pipefail
cmd=${1:-} STATE=${2:-}
[ -n "$cmd" ] && [ -n "$STATE" ] || { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

stop() {
  [ -d "$STATE" ] || return 0
  if [ -f "$STATE/slurm.conf" ] && [ -f "$STATE/slurmctld.pid" ]; then
    export SLURM_CONF="$STATE/slurm.conf"
    timeout 20 scancel --full --quiet --user="$(id -un)" 2> /dev/null || true
    for _ in $(seq 50); do  # until no job is left (or 10 s)
      [ -z "$(timeout 5 squeue -h -o %i 2> /dev/null)" ] && break
      sleep 0.2
    done
  fi
  for d in slurmd slurmctld munged; do
    [ -f "$STATE/$d.pid" ] || continue
    pid=$(cat "$STATE/$d.pid")
    kill -TERM "$pid" 2> /dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2> /dev/null || true
  done
  rm -rf "$STATE"
}

free_port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'; }

start() {
  [ "$(id -u)" -eq 0 ] || { echo "local_cluster.sh: run as root" >&2; exit 2; }
  command -v slurmctld > /dev/null && command -v munged > /dev/null \
    || { echo "local_cluster.sh: install slurm-wlm and munge (tools/install_deps.sh)" >&2; exit 2; }
  mkdir -p "$STATE"
  STATE=$(cd "$STATE" && pwd)
  # munged: its own root-owned key, a 0755 socket directory whose parents are all world-executable.
  local p=$STATE
  while [ "$p" != / ]; do chmod o+x "$p" 2> /dev/null || true; p=$(dirname "$p"); done
  mkdir -p "$STATE/munge" "$STATE/ctld" "$STATE/spool" "$STATE/tmp" "$STATE/log"
  chmod 0755 "$STATE" "$STATE/munge"
  mungekey --create --keyfile="$STATE/munge.key" --force
  chmod 0600 "$STATE/munge.key"
  munged --key-file="$STATE/munge.key" --socket="$STATE/munge/munge.socket" --pid-file="$STATE/munged.pid" \
    --log-file="$STATE/log/munged.log" --seed-file="$STATE/munge/seed"
  local node cpus mem ctld_port d_port
  node=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ { print $2 }' /proc/meminfo) / 1024 * 9 / 10 ))
  ctld_port=$(free_port)
  d_port=$(free_port)
  while [ "$d_port" = "$ctld_port" ]; do d_port=$(free_port); done
  cat > "$STATE/slurm.conf" <<CONF
ClusterName=brainsweep-local
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$STATE/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool/%n
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
TmpFS=$STATE/tmp/%n
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
MailProg=/bin/true
SchedulerParameters=batch_sched_delay=0
DependencyParameters=kill_invalid_depend
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
MinJobAge=600
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
  mkdir -p "$STATE/spool/$node" "$STATE/tmp/$node"
  export SLURM_CONF="$STATE/slurm.conf"
  slurmctld -f "$SLURM_CONF"
  slurmd -f "$SLURM_CONF"
  for _ in $(seq 100); do  # until the node is idle (or 20 s)
    sinfo -h -o %T 2> /dev/null | grep -qx idle && { echo "export SLURM_CONF=$SLURM_CONF"; return 0; }
    sleep 0.2
  done
  echo "local_cluster.sh: the node did not come up; logs:" >&2
  tail -20 "$STATE"/log/*.log >&2 || true
  stop
  exit 1
}

case $cmd in
  start) start ;;
  stop) stop ;;
  *) echo "local_cluster.sh: unknown command '$cmd' (start or stop)" >&2; exit 2 ;;
esac
