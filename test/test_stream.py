"""The static-shape per-frame network (StreamFrame) against the network with its queue memory."""

import pytest
import torch

from seqpose_core.assets import default_checkpoint
from seqpose_core.checkpoint import load_model
from seqpose_core.model.stream import PREDICTIONS, STATE, MemoryBuffers, StreamFrame

EPOCH = 1.7e9  # stamps as a camera gives them: padding's arbitrary stamps lie 54 years away


def frames(count: int, hw: tuple[int, int]) -> list[torch.Tensor]:
    """A slowly changing scene: the same random image with a drifting offset."""
    base = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(0))
    return [(base + 0.02 * i).clamp(0, 1) for i in range(count)]


@pytest.fixture(scope="module")
def model():
    return load_model(default_checkpoint()).eval()


def k_of(model) -> torch.Tensor:
    h, w = model.cfg.input_size
    return torch.tensor([[[0.9 * w, 0.0, w / 2], [0.0, 0.9 * w, h / 2], [0.0, 0.0, 1.0]]])


@torch.inference_mode()
def test_the_static_forward_gives_the_queue_memorys_predictions_over_10_frames(model):
    """Frame after frame the fixed-size buffers (padding before the first frames) give the
    predictions, the memory's entries and the track ids of the growing queue."""
    k, memory = k_of(model), model.new_memory()
    network, state = StreamFrame(model), MemoryBuffers.empty(model.cfg, 1, "cpu").tensors()
    for i, image in enumerate(frames(10, model.cfg.input_size)):
        stamp = torch.tensor([EPOCH + 0.1 * i], dtype=torch.float64)
        ref = model(image, k, memory, stamp, with_aux=False)
        model.remember(memory, ref, stamp)
        got = dict(zip((*PREDICTIONS, *STATE), network(image, k, stamp, *state), strict=True))
        state = tuple(got[name] for name in STATE)
        assert got["valid"].all()  # padding never survives the pruning
        last = ref["layers"][-1]
        for name in PREDICTIONS[:4]:
            torch.testing.assert_close(got[name], last[name], atol=1e-4, rtol=1e-4)
        assert torch.equal(got["track_ids"], ref["track_ids"])
        held = memory.gather()
        assert int(got["mem_valid"].sum()) == held.embed.shape[1]
        torch.testing.assert_close(
            got["mem_embed"][:, -held.embed.shape[1] :], held.embed, atol=1e-4, rtol=1e-4
        )
        assert torch.equal(got["mem_ids"][:, -held.embed.shape[1] :], held.track_ids)
        assert int(got["next_id"]) == int(memory.next_id)


@torch.inference_mode()
def test_the_first_frame_of_the_static_forward_is_a_single_frame(model):
    k, image = k_of(model), frames(1, model.cfg.input_size)[0]
    stamp = torch.tensor([EPOCH], dtype=torch.float64)
    network = StreamFrame(model)
    single = network(image, k, stamp)
    first = network(image, k, stamp, *MemoryBuffers.empty(model.cfg, 1, "cpu").tensors())
    for a, b in zip(single[:4], first[:4], strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("multi_frame", [True, False])
def test_the_per_frame_forward_reads_nothing_back_to_the_host(model, multi_frame):
    """No .item(), nonzero or boolean indexing from the image to the final scores (a host
    sync each on a GPU), with the memory full and empty."""
    k, network = k_of(model), StreamFrame(model)
    state = MemoryBuffers.empty(model.cfg, 1, "cpu").tensors() if multi_frame else ()
    images = frames(3, model.cfg.input_size)
    syncs = ("aten::_local_scalar_dense", "aten::item", "aten::nonzero", "aten::masked_select")
    with (
        torch.inference_mode(),
        torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof,
    ):
        for i, image in enumerate(images):
            out = network(image, k, torch.tensor([EPOCH + 0.1 * i], dtype=torch.float64), *state)
            state = out[len(PREDICTIONS) :]
    names = [e.key for e in prof.key_averages()]
    assert "aten::topk" in names  # the profile saw the network
    assert [n for n in names if n in syncs] == []
