"""The training step (srgan.training.step): graph mode against eager mode, the learning rate as a
device tensor, optimiser state across step modes and devices, the capture protocol.

Without CUDA, graph mode runs its step uncaptured (static input buffers, tensor learning
rate, the optimiser graph mode builds): these tests check that it trains as the eager step
does. The capture itself (warm-up, capture, replay) is checked with stand-ins for the CUDA
graph API here, and for real by the CUDA test at the end (skipped without a GPU).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from conftest import TINY_MODEL

from srgan.core import runtime, variants
from srgan.core.config import Config, load_config
from srgan.core.errors import UserError
from srgan.training import step as trainer

REPO = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
STEPS = 6
DECAY_AT = 3  # the learning rate drops tenfold before this step, as a schedule does


def tiny_config(*extra: str) -> Config:
    return load_config(REPO / "params.yaml", [REPO / "config" / "demo.yaml"], [*TINY_MODEL, *extra])


def batches(count: int, device: torch.device = CPU) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(7)
    made = []
    for _ in range(count):
        lr = torch.rand(2, 3, 4, 4, generator=generator)
        hr = torch.rand(2, 3, 16, 16, generator=generator) * 2 - 1
        made.append((lr.to(device), hr.to(device)))
    return made


def train_steps(
    built: trainer.Trainer,
    data: list[tuple[torch.Tensor, torch.Tensor]],
    lr: float = 1e-3,
    decay_at: int = DECAY_AT,
) -> list[torch.Tensor]:
    losses = []
    for step, (lr_batch, hr_batch) in enumerate(data):
        built.set_lr(lr if step < decay_at else lr / 10)
        losses.append(built.step(lr_batch, hr_batch))
    return losses


def weights(built: trainer.Trainer) -> dict[str, torch.Tensor]:
    found = {f"g.{k}": v for k, v in built.generator.state_dict().items()}
    if built.discriminator is not None:
        found |= {f"d.{k}": v for k, v in built.discriminator.state_dict().items()}
    return found


def assert_close_weights(a: trainer.Trainer, b: trainer.Trainer, atol: float) -> None:
    first, second = weights(a), weights(b)
    assert first.keys() == second.keys()
    for key in first:
        torch.testing.assert_close(first[key], second[key], rtol=0, atol=atol, msg=key)


# --- resolution of the settings ---------------------------------------------------------------


def test_auto_settings_are_graph_and_fused_on_cuda_eager_and_default_elsewhere() -> None:
    config = tiny_config()
    assert (config.train.step, config.train.adam_kernel) == ("auto", "auto")
    cuda = torch.device("cuda")  # a device name only: nothing runs on it
    assert trainer.step_mode(config, cuda) == trainer.GRAPH
    assert trainer.adam_kernel(config, cuda) == trainer.FUSED
    assert trainer.step_mode(config, CPU) == trainer.EAGER
    assert trainer.adam_kernel(config, CPU) == trainer.DEFAULT_KERNEL
    forced = tiny_config("train.step=graph", "train.adam_kernel=fused")
    assert trainer.step_mode(forced, CPU) == trainer.GRAPH
    assert trainer.adam_kernel(forced, CPU) == trainer.FUSED
    # what `srgan train` says when it starts
    assert trainer.describe_step(config, CPU) == "eager steps, default Adam, fp32"
    assert trainer.describe_step(config, cuda) == (
        "one CUDA graph per step (captured after 3 eager steps), fused Adam, fp32 (TF32 "
        "convolutions)"
    )
    assert trainer.describe_step(tiny_config("train.precision=bf16"), cuda).endswith(
        "fused Adam, bf16 autocast"
    )
    assert trainer.describe_step(forced, CPU) == (
        "graph mode's step, uncaptured (no CUDA), fused Adam, fp32"
    )


@pytest.fixture
def legacy_tf32_flags_refused(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every legacy TF32 flag raises when read or set (PyTorch raises when the legacy flags
    and the ``fp32_precision`` API are mixed)."""

    def refused(*args: object) -> None:
        raise AssertionError("a legacy TF32 flag was used")

    for name in ("_get_cublas_allow_tf32", "_set_cublas_allow_tf32",
                 "_get_float32_matmul_precision", "_set_float32_matmul_precision"):  # fmt: skip
        monkeypatch.setattr(torch._C, name, refused)
    # cudnn.allow_tf32 is a descriptor of the module's class: reading it (as monkeypatch would,
    # to restore it) runs PyTorch's getter, so the descriptor itself is swapped and restored.
    cudnn = type(torch.backends.cudnn)
    descriptor = cudnn.__dict__["allow_tf32"]
    cudnn.allow_tf32 = property(refused, refused)
    try:
        yield
    finally:
        cudnn.allow_tf32 = descriptor


@pytest.mark.parametrize("before", [("ieee", "tf32"), ("none", "none")])
def test_torch_settings_state_pytorchs_tf32_defaults_and_restore_the_callers(
    before: tuple[str, str], legacy_tf32_flags_refused: None
) -> None:
    """TF32 convolutions, full-fp32 matmuls during a run, set with the ``fp32_precision`` API
    only (no legacy flag read or written); the caller's settings afterwards."""
    conv, matmul = torch.backends.cudnn.conv, torch.backends.cuda.matmul
    saved = (conv.fp32_precision, matmul.fp32_precision)
    conv.fp32_precision, matmul.fp32_precision = before
    try:
        with runtime.torch_settings(deterministic=False, device=torch.device("cuda")):
            assert conv.fp32_precision == runtime.CONV_FP32_PRECISION == "tf32"
            assert matmul.fp32_precision == runtime.MATMUL_FP32_PRECISION == "ieee"
        assert (conv.fp32_precision, matmul.fp32_precision) == before
    finally:
        conv.fp32_precision, matmul.fp32_precision = saved


def test_a_run_on_cuda_n_has_that_device_current(monkeypatch: pytest.MonkeyPatch) -> None:
    """``torch_settings`` makes cuda:N the current device for the run (pinned-memory threads,
    streams and anything else that uses the current device), and restores the caller's."""
    entered: list[object] = []

    @contextlib.contextmanager
    def device(where: torch.device) -> contextlib.AbstractContextManager:
        entered.append(where)
        yield
        entered.append("left")

    monkeypatch.setattr(torch.cuda, "device", device)
    with runtime.torch_settings(deterministic=False, device=torch.device("cuda", 1)):
        assert entered == [torch.device("cuda", 1)]
    assert entered[-1] == "left"
    entered.clear()
    for plain in (CPU, torch.device("cuda")):  # no index: the current device is the one
        with runtime.torch_settings(deterministic=False, device=plain):
            pass
    assert entered == []


def test_eager_mode_on_cpu_builds_the_optimiser_as_before() -> None:
    """The CPU default is the step and Adam as they were: a float learning rate, PyTorch's
    default kernel, nothing captured."""
    built = trainer.build_trainer(variants.get(variants.SRGAN_MSE), tiny_config(), CPU)
    assert built.captured is None
    for optimizer in (built.opt_g, built.opt_d):
        assert optimizer is not None
        [group] = optimizer.param_groups
        assert isinstance(group["lr"], float)
        assert (group["foreach"], group["fused"], group["capturable"]) == (None, None, False)


@pytest.mark.parametrize("kernel", ["default", "fused"])
def test_graph_mode_keeps_the_learning_rate_in_one_device_tensor(kernel: str) -> None:
    config = tiny_config("train.step=graph", f"train.adam_kernel={kernel}")
    built = trainer.build_trainer(variants.get(variants.SRGAN_MSE), config, CPU)
    assert isinstance(built.captured, trainer.CapturedStep)
    tensors = [opt.param_groups[0]["lr"] for opt in (built.opt_g, built.opt_d) if opt]
    assert all(isinstance(t, torch.Tensor) and t.device == CPU for t in tensors)
    assert [t.item() for t in tensors] == pytest.approx([1e-4, 1e-4])  # params.yaml's SRGAN lr
    addresses = [t.data_ptr() for t in tensors]
    built.set_lr(1e-5)
    after = [opt.param_groups[0]["lr"] for opt in (built.opt_g, built.opt_d) if opt]
    # The same tensors, at the same addresses, now holding the new rate: what a captured
    # step reads at replay.
    assert all(a is b for a, b in zip(tensors, after, strict=True))
    assert [t.data_ptr() for t in after] == addresses
    assert [t.item() for t in after] == pytest.approx([1e-5, 1e-5])
    group = built.opt_g.param_groups[0]
    assert group["fused"] is (True if kernel == "fused" else None)
    assert group["foreach"] is (None if kernel == "fused" else False)


# --- graph mode trains as eager mode does ---------------------------------------------------------


@pytest.mark.parametrize("variant", [variants.SRRESNET_VGG22, variants.SRGAN_MSE])
def test_graph_mode_trains_as_eager_mode(variant: str) -> None:
    """Same seed, same batches, the same lr drop: the weights agree to float32 rounding (graph
    mode holds the learning rate as a float32 tensor, eager mode as a Python float)."""
    spec = variants.get(variant)
    data = batches(STEPS)
    eager = trainer.build_trainer(spec, tiny_config("train.step=eager"), CPU)
    graph = trainer.build_trainer(spec, tiny_config("train.step=graph"), CPU)
    assert_close_weights(eager, graph, atol=0)  # the same initial weights
    eager_losses = train_steps(eager, data)
    graph_losses = train_steps(graph, data)
    assert graph.captured is not None and graph.captured.calls == STEPS
    assert_close_weights(eager, graph, atol=1e-6)
    torch.testing.assert_close(torch.stack(eager_losses), torch.stack(graph_losses))
    # and the training did something: the weights moved by far more than that tolerance
    fresh = trainer.build_trainer(spec, tiny_config("train.step=eager"), CPU)
    moved = max((weights(eager)[k] - w).abs().max().item() for k, w in weights(fresh).items())
    assert moved > 1e-3


@pytest.mark.process
def test_compiled_graph_step_trains_as_eager_mode() -> None:
    """train.compile (inductor, on CPU here) inside graph mode: the full CUDA path's code."""
    spec = variants.get(variants.SRRESNET_MSE)
    data = batches(2)
    eager = trainer.build_trainer(spec, tiny_config("train.step=eager"), CPU)
    compiled = trainer.build_trainer(
        spec, tiny_config("train.step=graph", "train.compile=true"), CPU
    )
    assert compiled.g_forward is not compiled.generator  # the torch.compile wrapper
    try:
        eager_losses = train_steps(eager, data)
        compiled_losses = train_steps(compiled, data)
        assert_close_weights(eager, compiled, atol=1e-5)
        torch.testing.assert_close(torch.stack(eager_losses), torch.stack(compiled_losses))
    finally:
        torch._dynamo.reset()  # no compiled state left to the tests after this one


# --- checkpoints across step modes and devices ----------------------------------------------------


def _as_if_from_cuda(state: dict) -> dict:
    """An optimiser state as a CUDA graph-mode run writes it: fused, capturable, lr a tensor."""
    groups = [
        {**g, "fused": True, "capturable": True, "foreach": None, "lr": torch.tensor(g["lr"])}
        for g in state["param_groups"]
    ]
    return {**state, "param_groups": groups}


def test_optimiser_state_loads_into_any_step_mode_keeping_its_own_settings() -> None:
    spec = variants.get(variants.SRGAN_MSE)
    data = batches(STEPS)
    source = trainer.build_trainer(spec, tiny_config("train.step=eager"), CPU)
    train_steps(source, data[:DECAY_AT])
    state = copy.deepcopy(source.state())  # as read from a file: tensors of its own
    cuda_state = {
        **state,
        "optimizer_g": _as_if_from_cuda(state["optimizer_g"]),
        "optimizer_d": _as_if_from_cuda(state["optimizer_d"]),
    }
    # An eager CPU run resuming a CUDA graph-mode checkpoint keeps its own optimiser
    # settings, and continues exactly as from the same state written by an eager run.
    plain = trainer.build_trainer(spec, tiny_config("train.step=eager"), CPU)
    plain.load_state(copy.deepcopy(state))
    from_cuda = trainer.build_trainer(spec, tiny_config("train.step=eager"), CPU)
    from_cuda.load_state(copy.deepcopy(cuda_state))
    [group] = from_cuda.opt_g.param_groups
    assert (group["fused"], group["capturable"], type(group["lr"])) == (None, False, float)
    assert from_cuda.opt_g.state_dict()["state"][0]["step"].item() == DECAY_AT
    train_steps(plain, data[DECAY_AT:])
    train_steps(from_cuda, data[DECAY_AT:])
    assert_close_weights(plain, from_cuda, atol=0)
    # A graph-mode run resuming an eager checkpoint keeps its learning-rate tensor.
    graph = trainer.build_trainer(spec, tiny_config("train.step=graph"), CPU)
    graph.load_state(copy.deepcopy(state))
    assert isinstance(graph.opt_g.param_groups[0]["lr"], torch.Tensor)
    assert graph.opt_g.param_groups[0]["foreach"] is False
    train_steps(graph, data[DECAY_AT:])
    assert_close_weights(plain, graph, atol=1e-6)


def test_a_contiguous_checkpoint_resumed_into_channels_last_keeps_each_parameters_layout() -> None:
    """CUDA's fused Adam requires each state tensor to have its parameter's strides. A state
    written on the CPU (or with train.channels_last off) holds contiguous tensors; loaded into
    channels_last parameters, every state tensor takes the parameter's layout and keeps its
    values. (On the CPU the models are never channels_last: they are made so here.)"""
    spec = variants.get(variants.SRGAN_MSE)
    data = batches(STEPS)
    source = trainer.build_trainer(spec, tiny_config("train.step=eager"), CPU)
    train_steps(source, data[:DECAY_AT])
    state = copy.deepcopy(source.state())  # contiguous, as a CPU run writes it
    resumed = trainer.build_trainer(spec, tiny_config("train.step=eager"), CPU)
    for module in (resumed.generator, resumed.discriminator, resumed.content):
        module.to(memory_format=torch.channels_last)
    resumed.load_state(copy.deepcopy(state))
    layouts = []
    for optimizer, saved in ((resumed.opt_g, state["optimizer_g"]),
                             (resumed.opt_d, state["optimizer_d"])):  # fmt: skip
        assert optimizer is not None
        params = [p for group in optimizer.param_groups for p in group["params"]]
        for index, param in enumerate(params):
            for key, value in optimizer.state[param].items():
                if key == "step":
                    continue
                layouts.append((param.stride(), value.stride()))
                assert value.stride() == param.stride(), (key, tuple(param.shape))
                assert torch.equal(value, saved["state"][index][key])
    # the 4-d weights are the ones whose layout differs: (C*k*k, 1, k*C, C) against (.., k, 1)
    assert any(p != tuple(sorted(p, reverse=True)) for p, _ in layouts)
    train_steps(source, data[DECAY_AT:])
    train_steps(resumed, data[DECAY_AT:])
    assert_close_weights(source, resumed, atol=1e-6)


# --- the capture protocol, with stand-ins for the CUDA graph API -----------------------------


class _FakeGraph:
    replays = 0

    def replay(self) -> None:
        _FakeGraph.replays += 1


class _FakeStream:
    def wait_stream(self, other: object) -> None:
        pass


@pytest.fixture
def fake_cuda_graphs(monkeypatch: pytest.MonkeyPatch) -> None:
    _FakeGraph.replays = 0
    monkeypatch.setattr(torch.cuda, "CUDAGraph", _FakeGraph)
    monkeypatch.setattr(torch.cuda, "graph", lambda graph, **options: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "Stream", lambda device: _FakeStream())
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device: _FakeStream())
    monkeypatch.setattr(torch.cuda, "stream", lambda stream: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "device", lambda device: contextlib.nullcontext())
    monkeypatch.setattr(torch.Tensor, "record_stream", lambda self, stream: None)


def test_captured_step_warms_up_captures_once_then_only_replays(fake_cuda_graphs: None) -> None:
    seen = []

    def step(lr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        seen.append((lr.data_ptr(), hr.data_ptr()))
        return torch.stack([lr.sum(), hr.sum()])

    captured = trainer.CapturedStep(step, torch.device("cuda"), warmup=2)
    outputs = [captured(torch.full((2,), float(i)), torch.full((3,), -float(i))) for i in range(6)]
    # 2 eager warm-up calls, then the capture (the function's one more run), then replays only
    assert len(seen) == 3 and _FakeGraph.replays == 4 and captured.calls == 6
    assert len(set(seen)) == 1  # always the same static input buffers
    assert captured.inputs is not None
    assert captured.inputs[0].tolist() == [5.0, 5.0]  # the last call's batch was copied in
    assert [o.tolist() for o in outputs[:3]] == [[0.0, 0.0], [2.0, -3.0], [4.0, -6.0]]
    assert all(o is not captured.output for o in outputs)  # replays return copies
    with pytest.raises(ValueError, match="one shape"):
        captured(torch.zeros(3), torch.zeros(3))


def test_load_state_after_the_capture_is_refused(fake_cuda_graphs: None) -> None:
    spec = variants.get(variants.SRRESNET_MSE)
    built = trainer.build_trainer(spec, tiny_config("train.step=graph"), CPU)
    state = built.state()
    assert built.captured is not None
    built.captured.graph = _FakeGraph()  # as after the capture
    with pytest.raises(RuntimeError, match="after the step was captured"):
        built.load_state(state)


def test_a_failed_capture_says_how_to_train_without_one(
    fake_cuda_graphs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(graph: object, **options: str) -> contextlib.AbstractContextManager:
        raise RuntimeError("operation not permitted when stream is capturing\nmore")

    monkeypatch.setattr(torch.cuda, "graph", failing)
    captured = trainer.CapturedStep(lambda lr, hr: lr.sum(), torch.device("cuda"), warmup=0)
    with pytest.raises(UserError) as info:
        captured(torch.zeros(1), torch.zeros(1))
    assert captured.graph is None  # nothing half-captured is replayed
    assert str(info.value) == (
        "capturing the training step as a CUDA graph failed (operation not permitted when "
        "stream is capturing); train with train.step=eager"
    )


class _DeviceGuard:
    """``torch.cuda.device`` stand-in: records which CUDA device is current."""

    current: list[int] = [0]

    def __init__(self, device: torch.device | int) -> None:
        self.index = device if isinstance(device, int) else device.index

    def __enter__(self) -> None:
        _DeviceGuard.current.append(self.index)

    def __exit__(self, *exc: object) -> None:
        _DeviceGuard.current.pop()


def test_the_capture_is_made_on_the_models_device(
    fake_cuda_graphs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On cuda:1 the graph is captured with cuda:1 current and on a stream made on cuda:1
    (``torch.cuda.graph``'s default stream is made on the current device, cuda:0 unless
    guarded: the step would run once, uncaptured, and replays would train nothing); the
    replays run with cuda:1 current too."""
    device = torch.device("cuda", 1)
    streams: list[torch.device] = []
    captures: list[tuple[object, int]] = []
    replays: list[int] = []

    class Stream(_FakeStream):
        def __init__(self, where: torch.device) -> None:
            streams.append(torch.device(where))

    class Graph(_FakeGraph):
        def replay(self) -> None:
            replays.append(_DeviceGuard.current[-1])

    def graph(cuda_graph: object, stream: object = None, **options: object) -> object:
        captures.append((stream, _DeviceGuard.current[-1]))
        return contextlib.nullcontext()

    _DeviceGuard.current = [0]
    monkeypatch.setattr(torch.cuda, "device", _DeviceGuard)
    monkeypatch.setattr(torch.cuda, "Stream", Stream)
    monkeypatch.setattr(torch.cuda, "CUDAGraph", Graph)
    monkeypatch.setattr(torch.cuda, "graph", graph)
    captured = trainer.CapturedStep(lambda lr, hr: lr.sum(), device, warmup=1)
    for _ in range(3):
        captured(torch.zeros(1), torch.zeros(1))
    [(stream, current)] = captures
    assert isinstance(stream, Stream) and current == 1
    assert streams and all(made == device for made in streams)
    assert replays == [1, 1]
    assert _DeviceGuard.current == [0]  # the caller's device is current again


# --- on a GPU ----------------------------------------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("variant", [variants.SRRESNET_MSE, variants.SRGAN_VGG54])
def test_captured_cuda_step_trains_as_the_eager_one(variant: str) -> None:
    """The real capture: warm-up, capture, replays, and the lr drop (two steps after the
    capture) reaching the graph. Deterministic cuDNN, so that only the graph differs."""
    spec = variants.get(variant)
    cuda = torch.device("cuda")
    data = batches(trainer.GRAPH_WARMUP_STEPS + STEPS, cuda)
    decay_at = trainer.GRAPH_WARMUP_STEPS + 2
    with runtime.torch_settings(deterministic=True, device=cuda):
        eager = trainer.build_trainer(spec, tiny_config("train.step=eager"), cuda)
        graph = trainer.build_trainer(spec, tiny_config("train.step=graph"), cuda)
        eager_losses = train_steps(eager, data, decay_at=decay_at)
        graph_losses = train_steps(graph, data, decay_at=decay_at)
    assert graph.captured is not None and graph.captured.graph is not None
    assert eager.opt_g.param_groups[0]["fused"] and graph.opt_g.param_groups[0]["capturable"]
    torch.testing.assert_close(torch.stack(eager_losses), torch.stack(graph_losses))
    assert_close_weights(eager, graph, atol=1e-5)
