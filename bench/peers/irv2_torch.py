#!/usr/bin/python3
"""PyTorch peer for the equivd Inception-ResNet-v2 benchmark.

Run with /usr/bin/python3 (Debian python3-torch). Sub-commands:

  make-weights OUT.safetensors [--seed S | --fill V]   weights for every TF variable
  check                                   manifest, shapes and fixed-0.001 reference
  bench   --weights W --batch B --runs N  [--threads 2] [--channels-last]
  logits  --weights W --input ones|zeros|FILE.npy|FILE.safetensors[:NAME] --out F
  export  --weights W --out irv2.onnx --batch B

Every command that prints a result prints exactly one JSON line on stdout.
"""

import os
import sys

# Must happen before torch (and its OpenBLAS) is loaded: OpenBLAS threads
# would fight torch's own, and the Haswell core type forces AVX2 kernels.
_ENV_SEEN = {k: os.environ.get(k) for k in
             ("OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "GLIBC_TUNABLES", "OMP_NUM_THREADS")}
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ.pop("OPENBLAS_CORETYPE", None)

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

DEBIAN_PYTHON = "/usr/bin/python3"
try:
    import numpy as np  # noqa: E402

    import st_io  # noqa: E402
    _NUMPY_ERROR = None
except ImportError as _e:
    _NUMPY_ERROR = _e

DEFAULT_SPEC = os.environ.get("EQ_IRV2_SPEC", "/work/shared/spec/irv2")
IMAGE = 299


def _emit(obj):
    sys.stdout.write(json.dumps(obj, separators=(", ", ": ")) + "\n")
    sys.stdout.flush()


def _reexec_debian_python():
    """The python3 first on PATH here lacks torch; Debian's has it. Re-run
    under it once instead of failing on an easy mistake."""
    if (os.path.realpath(sys.executable) != os.path.realpath(DEBIAN_PYTHON)
            and os.access(DEBIAN_PYTHON, os.X_OK) and not os.environ.get("EQ_PEERS_REEXEC")):
        os.environ["EQ_PEERS_REEXEC"] = "1"
        sys.stdout.flush()
        os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])


def _import_torch(peer="pytorch", batch=None):
    """Import torch and the network, or print an 'unavailable' line and exit 3."""
    try:
        if _NUMPY_ERROR is not None:
            raise _NUMPY_ERROR
        import torch  # noqa: F401
        import irv2_net
    except Exception as e:  # ImportError, or a broken shared library
        _reexec_debian_python()
        line = {"peer": peer, "unavailable": f"torch/numpy not importable by {sys.executable}: {e}"}
        if batch is not None:
            line["batch"] = batch
        _emit(line)
        sys.exit(3)
    return torch, irv2_net


def _rss_mb(field):
    """VmRSS / VmHWM from /proc in MB (None if unreadable)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        pass
    return None


# ---------------------------------------------------------------- weights

class WeightError(ValueError):
    pass


def check_names(expected, names, shape_of, path="weights"):
    """Every expected TF variable present with its shape; nothing extra.

    expected: [(name, shape)]; names: names in the file; shape_of(name).
    Raises WeightError listing missing / unexpected / mis-shaped variables.
    """
    exp = dict(expected)
    have = set(names)
    missing = [n for n, _ in expected if n not in have]
    unexpected = [n for n in names if n not in exp]
    bad = [(n, shape_of(n), exp[n]) for n in names
           if n in exp and list(shape_of(n)) != list(exp[n])]
    if missing or unexpected or bad:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (first: {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (first: {unexpected[:3]})")
        if bad:
            parts.append(f"{len(bad)} mis-shaped (first: {bad[0][0]} has "
                         f"{bad[0][1]}, expected {bad[0][2]})")
        raise WeightError(f"{path}: variables do not match the network: " + "; ".join(parts))


def build_model(torch, irv2_net, aux=True, bn_scale=True):
    model = irv2_net.InceptionResNetV2(1000, aux=aux, bn_scale=bn_scale)
    model.eval()
    return model


def load_weights(model, path):
    with st_io.Reader(path) as r:
        check_names(model.tf_variables(), r.names(), r.shape, path)

        def get(name):
            a = r.get(name)
            return a.astype(np.float32, copy=False)

        model.load_tf_variables(get)


def make_weights(expected, seed=0, fill=None):
    """Ordered {name: float32 array}: constant `fill`, or random values whose
    scales keep activations O(1) through the 40 residual blocks."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in expected:
        if fill is not None:
            out[name] = np.full(shape, fill, dtype=np.float32)
            continue
        leaf = name.rsplit("/", 1)[1].split(":")[0]
        n = rng.standard_normal(size=shape, dtype=np.float32)
        if leaf == "weights":
            fan_in = int(np.prod(shape[:-1]))
            gain = 2.0 if len(shape) == 4 else 1.0
            a = n * np.float32(np.sqrt(gain / fan_in))
        elif leaf == "gamma":
            a = 1.0 + 0.1 * n
        elif leaf == "moving_variance":
            a = rng.uniform(0.5, 1.5, size=shape).astype(np.float32)
        elif leaf in ("beta", "moving_mean"):
            a = 0.1 * n
        else:  # biases
            a = 0.01 * n
        out[name] = a.astype(np.float32, copy=False)
    return out


# ---------------------------------------------------------------- inputs

def make_input(spec, batch):
    """NHWC float32 input: ones, zeros, rand:SEED, FILE.npy or FILE.safetensors[:NAME]."""
    shape = (batch, IMAGE, IMAGE, 3)
    if spec == "ones":
        return np.ones(shape, np.float32)
    if spec == "zeros":
        return np.zeros(shape, np.float32)
    if spec.startswith("rand:"):
        return np.random.default_rng(int(spec[5:])).random(shape, dtype=np.float32)
    if spec.endswith(".npy"):
        a = np.load(spec)
    else:
        path, _, name = spec.partition(".safetensors")
        path += ".safetensors"
        name = name.lstrip(":")
        t, _ = st_io.read(path)
        if not name:
            if len(t) != 1:
                raise SystemExit(f"{path}: holds {len(t)} tensors; name one as {path}:NAME")
            name = next(iter(t))
        a = t[name]
    a = np.asarray(a, dtype=np.float32)
    if a.ndim != 4 or a.shape[3] != 3:
        raise SystemExit(f"input {spec}: shape {list(a.shape)}, expected NHWC [N, H, W, 3]")
    return a


# ---------------------------------------------------------------- commands

def cmd_make_weights(args):
    torch, irv2_net = _import_torch()
    model = build_model(torch, irv2_net, not args.no_aux, not args.no_bn_scale)
    tensors = make_weights(model.tf_variables(), args.seed, args.fill)
    meta = {"generator": "bench/peers/irv2_torch.py make-weights",
            "fill" if args.fill is not None else "seed":
                str(args.fill if args.fill is not None else args.seed)}
    st_io.write(args.out, tensors, meta)
    _emit({"wrote": args.out, "variables": len(tensors),
           "params": int(sum(a.size for a in tensors.values()))})


def cmd_bench(args):
    torch, irv2_net = _import_torch(batch=args.batch)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    model = build_model(torch, irv2_net, not args.no_aux, not args.no_bn_scale)
    load_weights(model, args.weights)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 3, IMAGE, IMAGE, generator=g)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    rss_loaded = _rss_mb("VmRSS")
    runs = []
    with torch.inference_mode():
        for _ in range(args.warmup):
            model(x, want_aux=args.aux)
        for _ in range(args.runs):
            t0 = time.perf_counter()
            model(x, want_aux=args.aux)
            runs.append((time.perf_counter() - t0) * 1000.0)
    per_image = [r / args.batch for r in runs]
    _emit({
        "peer": "pytorch",
        "batch": args.batch,
        "ms_per_image_median": round(statistics.median(per_image), 3),
        "ms_per_image_min": round(min(per_image), 3),
        "ms_runs": [round(r, 3) for r in runs],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "rss_after_load_mb": rss_loaded,
        "torch_version": torch.__version__,
        "channels_last": bool(args.channels_last),
        "aux_head": bool(args.aux),
        "threads": args.threads,
        "warmup": args.warmup,
        "env": {"GLIBC_TUNABLES": _ENV_SEEN["GLIBC_TUNABLES"],
                "OPENBLAS_CORETYPE_removed": _ENV_SEEN["OPENBLAS_CORETYPE"]},
    })


def _nhwc(t):
    return t.permute(0, 2, 3, 1) if t.dim() == 4 else t


def cmd_logits(args):
    ext = os.path.splitext(args.out)[1]
    if ext not in (".npy", ".json", ".safetensors"):
        raise SystemExit(f"--out {args.out}: extension must be .npy, .json or .safetensors")
    torch, irv2_net = _import_torch()
    torch.set_num_threads(args.threads)
    model = build_model(torch, irv2_net, not args.no_aux, not args.no_bn_scale)
    load_weights(model, args.weights)
    if args.float64:
        model = model.double()
    x_nhwc = make_input(args.input, args.batch)
    x = torch.from_numpy(x_nhwc).permute(0, 3, 1, 2).contiguous()
    if args.float64:
        x = x.double()
    eps = {} if args.endpoints else None
    with torch.inference_mode():
        if model.aux:
            logits, aux = model(x, want_aux=True, endpoints=eps)
        else:
            logits, aux = model(x, endpoints=eps), None
    out = {"Logits": logits.numpy()}
    if aux is not None:
        out["AuxLogits"] = aux.numpy()
    if eps:
        for k, v in eps.items():
            out.setdefault(k, np.ascontiguousarray(_nhwc(v).numpy()))
    if ext == ".npy":
        np.save(args.out, out["Logits"])
    elif ext == ".safetensors":
        st_io.write(args.out, out, {"input": args.input, "layout": "NHWC"})
    elif ext == ".json":
        doc = {"input": args.input, "layout": "NHWC", "dtype": str(out["Logits"].dtype),
               "logits": out["Logits"].tolist()}
        if "AuxLogits" in out:
            doc["aux_logits"] = out["AuxLogits"].tolist()
        if eps:
            doc["endpoints"] = {k: {"shape": list(v.shape), "sum": float(v.sum(dtype=np.float64))}
                                for k, v in out.items()}
        with open(args.out, "w") as f:
            json.dump(doc, f)
    else:
        raise SystemExit(f"--out {args.out}: extension must be .npy, .json or .safetensors")
    lg = out["Logits"].astype(np.float64)
    _emit({"wrote": args.out, "logits_shape": list(lg.shape), "logits_sum": float(lg.sum()),
           "logits_first": [float(v) for v in lg.reshape(-1)[:4]]})


def cmd_export(args):
    torch, irv2_net = _import_torch(peer="onnxruntime", batch=args.batch)
    model = build_model(torch, irv2_net, not args.no_aux, not args.no_bn_scale)
    load_weights(model, args.weights)

    class Wrapper(torch.nn.Module):
        def __init__(self, net, aux):
            super().__init__()
            self.net = net
            self.aux = aux

        def forward(self, x):
            return self.net(x, want_aux=self.aux)

    wrapper = Wrapper(model, args.aux).eval()
    x = torch.rand(args.batch, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(0))
    outputs = ["logits", "aux_logits"] if args.aux else ["logits"]
    tmp = args.out + ".tmp"
    with torch.no_grad():
        torch.onnx.export(wrapper, (x,), tmp, input_names=["input"], output_names=outputs,
                          opset_version=args.opset, do_constant_folding=True)
    os.replace(tmp, args.out)
    _emit({"wrote": args.out, "batch": args.batch, "input": "input NCHW float32",
           "outputs": outputs, "opset": args.opset, "bytes": os.path.getsize(args.out),
           "torch_version": torch.__version__})


def _numpy_conv_unit(tensors, base, x, stride, padding):
    """Direct NHWC x HWIO conv + inference BatchNorm + ReLU in float64, written
    from the spec's formulas (independent of torch's layouts)."""
    w = tensors[base + "weights:0"].astype(np.float64)
    kh, kw, cin, cout = w.shape
    x = x.astype(np.float64)
    if padding == "SAME":
        x = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    n, h, wd, _ = x.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    y = np.zeros((n, oh, ow, cout))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride, :]
            y += patch @ w[i, j]
    bn = {k: tensors[base + f"BatchNorm/{k}:0"].astype(np.float64)
          for k in ("gamma", "beta", "moving_mean", "moving_variance")}
    y = bn["gamma"] * (y - bn["moving_mean"]) / np.sqrt(bn["moving_variance"] + 0.001) + bn["beta"]
    return np.maximum(y, 0.0)


def cmd_check(args):
    """Proves the module is the spec's network (exit 1 on any failure)."""
    torch, irv2_net = _import_torch()
    torch.set_num_threads(args.threads)
    results = []

    def ok(name, cond, detail=""):
        results.append((name, bool(cond)))
        print(f"{'PASS' if cond else 'FAIL'}: {name} {detail}", file=sys.stderr)

    spec = args.spec_dir
    for fname, aux, scale in (("manifest.json", True, True),
                              ("manifest_noaux_noscale.json", False, False)):
        with open(os.path.join(spec, fname)) as f:
            man = [(v["name"], v["shape"]) for v in json.load(f)]
        mine = build_model(torch, irv2_net, aux, scale).tf_variables()
        first = next((i for i, (a, b) in enumerate(zip(man, mine)) if a != b), None)
        ok(f"variables equal {fname} in order", man == mine,
           f"({len(mine)} vs {len(man)}; first difference at {first})")

    model = build_model(torch, irv2_net)
    nparams = sum(p.numel() for p in model.parameters()) + sum(
        b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    ok("total params 59,273,456", nparams == 59273456, f"(got {nparams})")

    # Name checking rejects what it must.
    exp = [("a:0", [2, 3]), ("b:0", [4])]
    shapes = {"a:0": [2, 3], "b:0": [4], "c:0": [1]}
    for label, names, want in (("exact set accepted", ["a:0", "b:0"], None),
                               ("missing rejected", ["a:0"], "missing"),
                               ("unexpected rejected", ["a:0", "b:0", "c:0"], "unexpected")):
        try:
            check_names(exp, names, shapes.get)
            ok(f"check_names: {label}", want is None)
        except WeightError as e:
            ok(f"check_names: {label}", want is not None and want in str(e), str(e))
    try:
        check_names(exp, ["a:0", "b:0"], {"a:0": [3, 2], "b:0": [4]}.get)
        ok("check_names: mis-shaped rejected", False)
    except WeightError as e:
        ok("check_names: mis-shaped rejected", "mis-shaped" in str(e), str(e))

    # Constant 0.001 everywhere, input ones: the spec's float64 reference.
    with open(os.path.join(spec, "reference_fixed_0.001.json")) as f:
        ref = json.load(f)
    with open(os.path.join(spec, "endpoints.json")) as f:
        ep_shapes = json.load(f)["end_points"]
    const = dict(make_weights(model.tf_variables(), fill=0.001))
    model.load_tf_variables(const.__getitem__)
    for dtype, rtol in ((torch.float32, args.rtol32), (torch.float64, args.rtol64)):
        if dtype == torch.float64 and args.skip_f64:
            continue
        m = model.to(dtype)
        x = torch.ones(1, 3, IMAGE, IMAGE, dtype=dtype)
        eps = {}
        with torch.inference_mode():
            m(x, want_aux=True, endpoints=eps)
        tag = str(dtype).replace("torch.", "")
        for name, shape in ep_shapes.items():
            got = list(_nhwc(eps[name]).shape) if name in eps else None
            ok(f"[{tag}] endpoint {name} shape {shape}", got == shape, f"(got {got})")
        for t in ref["tensors"]:
            s = float(eps[t["name"]].double().sum())
            rel = abs(s - t["sum_float64"]) / abs(t["sum_float64"])
            ok(f"[{tag}] sum {t['name']}", rel <= rtol, f"({s!r} vs {t['sum_float64']!r}, rel {rel:.2e})")
        lg = eps["Logits"].double()
        want = ref["logits_each_float64"]
        rel = float(((lg - want).abs() / abs(want)).max())
        ok(f"[{tag}] logits == {want}", rel <= rtol,
           f"(first {float(lg[0, 0])!r}, max rel {rel:.2e})")
        ok(f"[{tag}] logits sum", abs(float(lg.sum()) - ref["logits_sum_float64"])
           <= rtol * abs(ref["logits_sum_float64"]), f"({float(lg.sum())!r})")

    # Safetensors round trip through the loader with distinct random values.
    if not args.skip_roundtrip:
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "w.safetensors")
            model = build_model(torch, irv2_net)
            tensors = make_weights(model.tf_variables(), seed=1)
            st_io.write(path, tensors)
            load_weights(model, path)
            n = "InceptionResnetV2/Repeat_1/block17_3/Branch_1/Conv2d_0b_1x7/weights:0"
            w = model.repeat1[2].b1b.conv.weight.detach().numpy()
            ok("HWIO -> OIHW load", np.array_equal(w, tensors[n].transpose(3, 2, 0, 1)))
            n = "InceptionResnetV2/Logits/Logits/weights:0"
            ok("FC [in,out] -> [out,in] load",
               np.array_equal(model.fc.weight.detach().numpy(), tensors[n].T))
            n = "InceptionResnetV2/Mixed_5b/Branch_3/Conv2d_0b_1x1/BatchNorm/moving_variance:0"
            ok("BN moving_variance load",
               np.array_equal(model.mixed5b.b3b.bn.running_var.numpy(), tensors[n]))
            # Random weights make the kernel asymmetric, so a kh/kw or in/out
            # swap shows here even where shapes would still fit.
            for scope, unit, cin, hw, stride in (
                    ("Conv2d_1a_3x3", model.conv1a, 3, 11, 2),
                    ("Repeat_1/block17_3/Branch_1/Conv2d_0b_1x7", model.repeat1[2].b1b, 128, 9, 1)):
                x = np.random.default_rng(2).standard_normal((1, hw, hw + 2, cin), dtype=np.float32)
                ref = _numpy_conv_unit(tensors, "InceptionResnetV2/" + scope + "/", x, stride,
                                       "VALID" if stride == 2 else "SAME")
                with torch.inference_mode():
                    got = _nhwc(unit(torch.from_numpy(x).permute(0, 3, 1, 2))).numpy()
                err = float(np.abs(got - ref).max()) if got.shape == ref.shape else float("inf")
                ok(f"{scope} unit == numpy NHWC/HWIO reference", err <= 1e-4 * max(1.0, np.abs(ref).max()),
                   f"(shapes {list(got.shape)} {list(ref.shape)}, max abs err {err:.2e})")

    failed = sum(1 for _, good in results if not good)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def _user_errors():
    errs = (WeightError, OSError)
    return errs + (st_io.SafetensorsError,) if _NUMPY_ERROR is None else errs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def net_flags(sp):
        sp.add_argument("--no-aux", action="store_true",
                        help="network without the AuxLogits head (create_aux_logits=False)")
        sp.add_argument("--no-bn-scale", action="store_true",
                        help="BatchNorm without gamma (batch_norm_scale=False)")

    sp = sub.add_parser("make-weights", help="write a safetensors file with every TF variable")
    sp.add_argument("out")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--fill", type=float, default=None, help="constant value instead of random")
    net_flags(sp)

    sp = sub.add_parser("bench", help="time the forward pass; prints one JSON line")
    sp.add_argument("--weights", required=True)
    sp.add_argument("--batch", type=int, default=1)
    sp.add_argument("--runs", type=int, default=10)
    sp.add_argument("--warmup", type=int, default=2)
    sp.add_argument("--threads", type=int, default=2)
    sp.add_argument("--channels-last", action="store_true")
    sp.add_argument("--aux", action="store_true", help="also compute the aux head")
    net_flags(sp)

    sp = sub.add_parser("logits", help="run once and write logits (.npy/.json/.safetensors)")
    sp.add_argument("--weights", required=True)
    sp.add_argument("--input", default="ones",
                    help="ones | zeros | rand:SEED | FILE.npy | FILE.safetensors[:NAME] (NHWC)")
    sp.add_argument("--batch", type=int, default=1, help="batch for ones/zeros/rand inputs")
    sp.add_argument("--out", required=True)
    sp.add_argument("--endpoints", action="store_true",
                    help="also write end points (NHWC) to .safetensors, their sums to .json")
    sp.add_argument("--float64", action="store_true", help="compute in float64")
    sp.add_argument("--threads", type=int, default=2)
    net_flags(sp)

    sp = sub.add_parser("export", help="torch.onnx.export with a fixed batch, NCHW input")
    sp.add_argument("--weights", required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("--batch", type=int, default=1)
    sp.add_argument("--opset", type=int, default=13)
    sp.add_argument("--aux", action="store_true", help="also export the aux_logits output")
    net_flags(sp)

    sp = sub.add_parser("check", help="prove the module is the spec's network")
    sp.add_argument("--spec-dir", default=DEFAULT_SPEC)
    sp.add_argument("--rtol32", type=float, default=1e-4)
    sp.add_argument("--rtol64", type=float, default=1e-9)
    sp.add_argument("--skip-f64", action="store_true")
    sp.add_argument("--skip-roundtrip", action="store_true")
    sp.add_argument("--threads", type=int, default=2)

    args = p.parse_args(argv)
    for name in ("batch", "runs", "threads"):
        if getattr(args, name, 1) < 1:
            p.error(f"--{name} must be >= 1")
    if getattr(args, "warmup", 0) < 0:
        p.error("--warmup must be >= 0")
    try:
        return {"make-weights": cmd_make_weights, "bench": cmd_bench, "logits": cmd_logits,
                "export": cmd_export, "check": cmd_check}[args.cmd](args) or 0
    except _user_errors() as e:
        print(f"irv2_torch.py {args.cmd}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
