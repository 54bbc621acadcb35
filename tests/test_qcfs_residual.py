"""QCFS conversion through residual adds, a 1x1 stride-2 projection shortcut and a global
average pool, checked layer by layer against torch (issue 13: the benchmark ResNet).

Independent reference: the torch network itself. Every neuron layer of the SNN is checked on
its own: torch computes the layer's QCFS pre-activation `a` from the spike counts `n` the SNN
produced upstream (each upstream activation taken as `n / L * lambda`, the QCFS value of that
count), and the total current the SNN's neurons integrated over the run must be `L * a /
lambda` at T = L and, with the trained staircase (spec/ir.md 5.6), at every T = k L. That
pins each branch's scale at an add (lambda of both branches), the projection's stride and
padding, the global pool, v0 and the staircase's current scaling, exactly (to float
rounding), whatever the spike timing does. What timing does do is measured separately:
how often the counts equal the ANN's own quantized activations.
"""
import numpy as np
import pytest

import sncc
from conftest import nn, torch

L = 4


class _Block(nn.Module):
    """conv-BN-ReLU-conv-BN plus a shortcut (identity, or 1x1 conv-BN with the block's stride), ReLU."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.ReLU(),
                                  nn.Conv2d(cout, cout, 3, 1, 1), nn.BatchNorm2d(cout))
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else \
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride), nn.BatchNorm2d(cout))
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


def _resnet(seed):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.AvgPool2d(2),
                        _Block(6, 6), _Block(6, 8, stride=2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))
    g = torch.Generator().manual_seed(seed + 100)
    for m in net.modules():  # random, non-trivial BatchNorm statistics: folding them is part of the check
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(0.2 * torch.randn(c, generator=g))
            m.running_var.copy_(0.5 + torch.rand(c, generator=g))
            m.weight.data.copy_(0.8 + 0.4 * torch.rand(c, generator=g))
            m.bias.data.copy_(0.2 * torch.randn(c, generator=g))
    return net.eval()


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(0)
    x = (rng.random((240, 1, 12, 12)) * (rng.random((240, 1, 12, 12)) < 0.6)).astype(np.float32)
    # lambda of every QCFS layer from its ReLU's 99.9th percentile, no training (epochs=0)
    q = sncc.nn.finetune_qcfs(_resnet(3), x, np.zeros(len(x), np.int64), L=L, epochs=0, progress=False)
    return q, x[:160], x[160:]


def _layers(q):
    """The torch QCFS layers in forward order, and a function computing each one's
    pre-activation from the activations of the layers before it."""
    stem, b1, b2 = q[0:2], q[4], q[5]
    acts = [q[2], b1.body[2], b1.relu, b2.body[2], b2.relu]

    def pre(k, xin, a):
        """a: the activations of layers < k (torch tensors); xin: the network input."""
        if k == 0:
            return stem(xin)
        p = q[3](a[0])  # average pool of the stem
        if k == 1:
            return b1.body[0:2](p)
        if k == 2:
            return b1.body[3:5](a[1]) + p
        if k == 3:
            return b2.body[0:2](a[2])
        return b2.body[3:5](a[3]) + b2.shortcut(a[2])

    head = lambda a4: q[6:](a4)  # noqa: E731  global average pool, flatten, linear
    return acts, pre, head


def _run(snn, x, T):
    """{layer index: (total input current, spike count)} of the SNN's neuron layers, and the readout."""
    neurons = [op for op in snn.module.ops if op.kind == "if"]
    index = {id(op): k for k, op in enumerate(neurons)}
    cur = {op.operands[0].name: k for k, op in enumerate(neurons)}
    total = {k: 0.0 for k in range(len(neurons))}
    count = {k: 0.0 for k in range(len(neurons))}
    seen = {k: 0 for k in range(len(neurons))}

    def observe(op, value):
        if op.result.name in cur:
            total[cur[op.result.name]] = total[cur[op.result.name]] + value.astype(np.float64)
            seen[cur[op.result.name]] += 1
        if id(op) in index:
            count[index[id(op)]] = count[index[id(op)]] + value.astype(np.float64)

    out = sncc.interpret(snn.module, x, T=T, observer=observe)
    # a time-invariant current (the first layer's, under constant input) is computed, and
    # observed, once per inference (spec/ir.md 5.1): it flows at every one of the T steps
    assert all(seen[k] in (1, T) for k in seen), seen
    total = {k: total[k] * (T if seen[k] == 1 else 1) for k in total}
    return [total[k] for k in range(len(neurons))], [count[k] for k in range(len(neurons))], out, neurons


@pytest.mark.parametrize("T", [L, 2 * L, 3 * L])
def test_every_layers_current_is_the_torch_pre_activation_of_the_snns_own_counts(case, T):
    q, calib, x = case
    acts, pre, head = _layers(q)
    lams = [float(a.threshold.detach()) for a in acts]
    snn = sncc.convert(q, calibration_data=calib, T=T, first_spikes="v0", progress=False)  # v0 = theta/2 everywhere
    assert T == L or snn.report["convert-to-snn"]["staircase"] == f"L={L}, currents x{L / T:g}"
    totals, counts, out, neurons = _run(snn, x, T)
    assert len(neurons) == len(acts) == 5
    assert all(op.attrs["v0"] == 0.5 and op.attrs["threshold"] == 1.0 for op in neurons)
    xin = torch.from_numpy(x)
    a = []  # the activation of each layer as the SNN computed it: count / L * lambda
    with torch.no_grad():
        for k, lam in enumerate(lams):
            want = (L * pre(k, xin, a) / lam).numpy()
            got = totals[k]
            assert np.abs(got - want).max() <= 1e-4 * max(1.0, np.abs(want).max()), (T, k, np.abs(got - want).max())
            # v0 = theta/2, reset by subtraction: n = floor(1/2 + total) whenever the membrane ends in
            # [0, 1); under the constant current of the first layer it always does
            n = counts[k]
            if k == 0:
                np.testing.assert_array_equal(n, np.clip(np.floor(0.5 + got), 0, T))
            a.append(torch.from_numpy((n / L * lam).astype(np.float32)))
        # the readout is L times the linear head of the last layer's activations, bias included (at T > L
        # the staircase scaled the bias by L / T)
        want = (L * head(a[4])).numpy()
    assert np.abs(out - want).max() <= 1e-4 * np.abs(want).max(), (T, np.abs(out - want).max())
    # the CPU simulator's kernels: the same spike totals per layer (float) as the reference interpreter
    _, spikes = snn.run(x, backend="cpu", record=True)
    assert [spikes[op.result.name] for op in neurons] == [int(c.sum()) for c in counts]


def test_counts_at_T_equal_L_reproduce_the_anns_quantized_activations(case):
    """QCFS at T = L, v0 = theta/2 (first_spikes=v0): the first layer (constant current) reproduces the ANN's
    quantized activation exactly; later layers up to spike timing (a neuron fired early by
    currents that a later, negative current would have cancelled keeps its spike). Cannot
    pass trivially: a fifth or more of every layer's neurons is active, over several levels."""
    q, calib, x = case
    acts, _, _ = _layers(q)
    seen = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, k=k: seen.__setitem__(k, o.numpy())) for k, m in enumerate(acts)]
    with torch.no_grad():
        q(torch.from_numpy(x))
    for h in hooks:
        h.remove()
    snn = sncc.convert(q, calibration_data=calib, T=L, first_spikes="v0", progress=False)
    _, counts, _, _ = _run(snn, x, L)
    agree = []
    for k, m in enumerate(acts):
        ann = np.round(seen[k] / float(m.threshold.detach()) * L)  # the ANN's level, 0..L
        assert (ann > 0).mean() >= 0.2 and len(np.unique(ann)) >= 4, (k, (ann > 0).mean(), np.unique(ann))
        agree.append(float((counts[k] == ann).mean()))
    assert agree[0] == 1.0, agree
    assert min(agree) >= 0.9, agree


@pytest.mark.parametrize("T", [L, 2 * L])
def test_quantized_qcfs_resnet_is_bit_exact_on_the_cpu(case, T):
    """A QCFS network has one lambda per layer, so the rescale `mul` normalize puts on the
    identity shortcut is a 0-d constant: quantize used to fail on it ("attribute 'value' must
    be an array"). Quantized, the CPU simulator's fixed mode equals the reference interpreter
    bit for bit, and the 8-bit network classifies like the float one on nearly every sample."""
    from sncc.backends.cpu import CpuSimulator
    from sncc.pass_manager import PassContext

    q, calib, x = case
    snn = sncc.convert(q, calibration_data=calib, T=T, progress=False)
    assert any(op.kind == "mul" and op.operands[1].type.shape == () for op in snn.module.ops)
    fixed = sncc.PassManager.parse("quantize{weight_bits=8}").run(snn.module.clone(), PassContext())
    ref = sncc.interpret(fixed, x)
    np.testing.assert_array_equal(CpuSimulator(fixed, mode="fixed").run(x), ref)
    assert (ref.argmax(1) == snn.run(x).argmax(1)).mean() >= 0.95  # measured: 100% at T = 4 and 8


@pytest.mark.parametrize("T", [L, 2 * L])
def test_early_first_spikes_keep_the_first_layers_counts_and_fire_them_first(case, T):
    """first_spikes=early (spec/ir.md 5.6): v0 just below theta for the constant-current first
    layer, its bias lowered to match. Its counts are still torch's QCFS staircase (to float
    rounding on a step's edge; unclipped at T = 2L, like the default); no neuron's first spike comes later than with v0 = theta/2, and the
    spikes move earlier on average; quantized, the CPU equals the interpreter bit for bit."""
    from sncc.backends.cpu import CpuSimulator
    from sncc.pass_manager import PassContext

    q, calib, x = case
    acts, _, _ = _layers(q)
    with torch.no_grad():  # the QCFS staircase without its clip at L (at T > L a neuron fires up to T times)
        pre = q[0:2](torch.from_numpy(x)).numpy().astype(np.float64) / float(acts[0].threshold.detach())
    ann = np.clip(np.floor(L * pre + 0.5), 0, T)

    def first_layer_spikes(snn):
        steps = []
        first = next(op for op in snn.module.ops if op.kind == "if")
        sncc.interpret(snn.module, x, T=T, observer=lambda op, v: steps.append(v) if op is first else None)
        return np.stack(steps), first

    plain, early = (sncc.convert(q, calibration_data=calib, T=T, first_spikes=f, progress=False) for f in ("v0", "early"))
    assert early.report["convert-to-snn"]["early_first_spikes"] == 1
    (s_plain, _), (s_early, neuron) = first_layer_spikes(plain), first_layer_spikes(early)
    assert neuron.attrs["v0"] == 1 - 2 ** -8
    # every count, whatever the timing; float rounding may move a value sitting on a step's edge
    assert (s_early.sum(0) == ann).mean() >= 0.999 and (s_plain.sum(0) == ann).mean() >= 0.999
    assert (s_early.sum(0) == s_plain.sum(0)).mean() >= 0.999
    t = np.arange(T).reshape((T,) + (1,) * (s_plain.ndim - 1))
    fired = ann > 0
    first_plain = np.where(s_plain > 0, t, T).min(0)[fired]
    first_early = np.where(s_early > 0, t, T).min(0)[fired]
    assert np.all(first_early <= first_plain)
    assert first_early.mean() < first_plain.mean() - 0.5, (first_early.mean(), first_plain.mean())
    fixed = sncc.PassManager.parse("quantize{weight_bits=8}").run(early.module.clone(), PassContext())
    np.testing.assert_array_equal(CpuSimulator(fixed, mode="fixed").run(x), sncc.interpret(fixed, x))


def _early(snn):
    """The neurons converted with first_spikes=early (v0 just below theta: spec/ir.md 5.6)."""
    return [op for op in snn.module.ops if op.kind == "if" and np.ndim(op.attrs["v0"]) == 0
            and op.attrs["v0"] == 1 - 2 ** -8]


def test_residual_adds_are_the_adds_of_two_computed_values():
    m = sncc.parse("""module @m {
  %x = input {index = 0} : tensor<4xf32>
  %c = const {value = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>} : tensor<4xf32>
  %b = add(%x, %c) : tensor<4xf32>
  %r = relu(%b) : tensor<4xf32>
  %s = add(%r, %x) : tensor<4xf32>
  return %s
}""")
    assert [op.result.name for op in m.residual_adds()] == ["s"]


def test_default_first_spikes_are_early_for_a_residual_network_and_it_warns(case, caplog):
    """first_spikes=auto (the default): early for a QCFS network with residual adds (the ResNet
    here: the same module as asking for early), with one warning line naming both options
    while v0_calibration is off; given both, no warning."""
    q, calib, _ = case
    with caplog.at_level("WARNING", logger="sncc"):
        snn = sncc.convert(q, calibration_data=calib, T=L, progress=False)
    warned = [r.getMessage() for r in caplog.records if "residual add" in r.getMessage()]
    assert snn.report["convert-to-snn"]["first_spikes"] == "early" and len(_early(snn)) == 1
    early = sncc.convert(q, calibration_data=calib, T=L, first_spikes="early", progress=False)
    assert snn.module.to_text() == early.module.to_text()
    assert len(warned) == 1 and "\n" not in warned[0], warned
    for words in ("2 residual add(s)", "first_spikes='early'", "--first-spikes early", "v0_calibration=1000",
                  "--v0-calibration 1000", "v0_calibration=0"):
        assert words in warned[0], (words, warned[0])
    caplog.clear()
    with caplog.at_level("WARNING", logger="sncc"):
        plain = sncc.convert(q, calibration_data=calib, T=L, first_spikes="v0", progress=False)
    assert not _early(plain) and plain.report["convert-to-snn"]["first_spikes"] == "v0"
    assert [r for r in caplog.records if "converting with first_spikes='v0'" in r.getMessage()]
    caplog.clear()
    with caplog.at_level("WARNING", logger="sncc"):
        both = sncc.convert(q, calibration_data=calib, T=L, first_spikes="early", v0_calibration=40, progress=False)
    assert len(_early(both)) == 1 and not [r for r in caplog.records if "residual add" in r.getMessage()]
    # rate input: early first spikes do not apply (no constant current), nor does the warning
    with caplog.at_level("WARNING", logger="sncc"):
        rate = sncc.convert(q, calibration_data=calib, T=L, encoding="rate", progress=False)
    assert not _early(rate) and not [r for r in caplog.records if "residual add" in r.getMessage()]


def test_default_first_spikes_leave_a_relu_resnet_at_v0(caplog):
    """The same ResNet with ReLU (before finetune_qcfs): auto is v0 (measured on the benchmark
    ResNet: 54.64% at T = 4 with v0, 10.10% with early), silently."""
    torch.manual_seed(0)
    net = _resnet(3)
    x = np.random.default_rng(1).random((40, 1, 12, 12)).astype(np.float32)
    with caplog.at_level("WARNING", logger="sncc"):
        auto = sncc.convert(net, calibration_data=x, T=4, progress=False)
    assert auto.report["convert-to-snn"]["first_spikes"] == "v0" and not _early(auto)
    assert not [r for r in caplog.records if "residual" in r.getMessage()]
    assert len(sncc.api.import_model(net, x).residual_adds()) == 2


def test_default_first_spikes_leave_a_network_without_residual_adds_unchanged(caplog):
    """The same layers without the shortcuts (no residual add): auto is v0, the module is the
    one first_spikes=v0 gives, and nothing is said about residual networks."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Conv2d(6, 8, 3, padding=1),
                        nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 5)).eval()
    x = np.random.default_rng(1).random((40, 1, 12, 12)).astype(np.float32)
    with caplog.at_level("WARNING", logger="sncc"):
        auto = sncc.convert(net, calibration_data=x, T=4, progress=False)
    assert auto.report["convert-to-snn"]["first_spikes"] == "v0" and not _early(auto)
    assert auto.module.to_text() == sncc.convert(net, calibration_data=x, T=4, first_spikes="v0",
                                                 progress=False).module.to_text()
    assert not [r for r in caplog.records if "residual" in r.getMessage()]
    assert len(_early(sncc.convert(net, calibration_data=x, T=4, first_spikes="early", progress=False))) == 1
