#!/usr/bin/env bash
# Multi-GPU / multi-node active learning through torchrun, like the toolboxes'
# dist_train.sh:  bash tools/dist_al_train.sh CONFIG GPUS [al_train.py args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node.
# The rendezvous store listens on MASTER_ADDR only (tools/dist_launch.py); on one
# machine with the loopback default, gloo connects its processes over the
# loopback interface too (GLOO_SOCKET_IFNAME=lo unless set).
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

if [ "$NNODES" = 1 ] && [[ "$MASTER_ADDR" =~ ^(127\.|localhost$|::1$) ]]; then
  export GLOO_SOCKET_IFNAME=${GLOO_SOCKET_IFNAME:-lo}
fi

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
$PYTHON "$(dirname "$0")/dist_launch.py" \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    "$(dirname "$0")/al_train.py" \
    $CONFIG \
    --launcher pytorch "${@:3}"
