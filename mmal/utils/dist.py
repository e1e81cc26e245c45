from mmengine.dist import broadcast_object_list, get_dist_info, is_main_process


def broadcast_from_rank0(read):
    """``read()`` on rank 0, its result (or its error) on every rank: files that
    only rank 0 can see (a work dir that is not shared between nodes)."""
    if get_dist_info()[1] == 1:
        return read()
    result = [None]
    if is_main_process():
        try:
            result = [(True, read())]
        except Exception as error:  # re-raised on every rank below
            result = [(False, error)]
    broadcast_object_list(result)
    ok, value = result[0]
    if not ok:
        raise value
    return value
