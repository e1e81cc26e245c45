"""Shared by the pose tests."""
import pytest
import torch


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    # On shared cores torch's second thread waits more than it helps.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
