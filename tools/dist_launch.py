"""torchrun whose rendezvous store listens on MASTER_ADDR only:
``python tools/dist_launch.py [torchrun arguments]`` (``tools/dist_al_train.sh``
runs it).

torchrun's static rendezvous starts a ``TCPStore`` server on node 0 that binds
every interface (``*:PORT``), whatever ``--master_addr`` says: with the loopback
default of a one-machine run, any host on the network could talk to the store.
Here the server listens on a socket bound to ``--master_addr`` when that is an IP
address (``127.0.0.1``, or node 0's address on a cluster); a host name keeps
torch's behaviour. Everything else is torchrun's.
"""
import ipaddress
import socket

import torch.distributed as dist
from torch.distributed import run
from torch.distributed.elastic.rendezvous import static_tcp_rendezvous


def bound_tcp_store(host_name, port, world_size=None, is_master=False, *args,
                    **kwargs):
    """``TCPStore``, whose server (``is_master``) listens on ``host_name`` only
    when that is an IP address."""
    if is_master and kwargs.get('master_listen_fd') is None:
        try:
            address = ipaddress.ip_address(host_name)
        except ValueError:
            address = None
        if address is not None:
            family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            listener = socket.create_server((str(address), port), family=family,
                                            backlog=4096)
            # The store's server owns the socket from now on.
            kwargs['master_listen_fd'] = listener.detach()
    return dist.TCPStore(host_name, port, world_size, is_master, *args, **kwargs)


def main() -> None:
    static_tcp_rendezvous.TCPStore = bound_tcp_store
    run.main()


if __name__ == '__main__':
    main()
