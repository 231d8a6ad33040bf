"""TF-Slim Inception-ResNet-v2 as a PyTorch module, loaded by TF variable name.

Numerically the network of /work/shared/spec/inception-resnet-v2.md: every
layer is registered in the order slim creates its variables, so the list of
TF names this module expects can be compared entry by entry with the spec's
manifest.json. Activations are NCHW inside (PyTorch's native layout); the
TF NHWC/HWIO conventions are converted only at the edges (weights on load,
inputs and endpoints in the CLI).
"""

import torch
from torch import nn
import torch.nn.functional as F

PREFIX = "InceptionResnetV2/"
BN_EPS = 0.001


def _pad_for(kernel, stride, padding):
    kh, kw = kernel
    if padding == "VALID":
        return (0, 0)
    # SAME with stride 1 and an odd kernel is symmetric (k-1)/2 per side; the
    # network has no other SAME case, so anything else is a programming error.
    assert padding == "SAME" and stride == 1 and kh % 2 == 1 and kw % 2 == 1
    return (kh // 2, kw // 2)


class ConvBN(nn.Module):
    """slim.conv2d under the arg_scope: conv without bias, BatchNorm, ReLU."""

    def __init__(self, cin, cout, kernel, stride=1, padding="SAME", bn_scale=True):
        super().__init__()
        if isinstance(kernel, int):
            kernel = (kernel, kernel)
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride,
                              padding=_pad_for(kernel, stride, padding), bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS, affine=True)
        self.bn_scale = bn_scale

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class ConvBias(nn.Module):
    """Residual up-projection: 1x1 conv with bias, no BN, no activation."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=True)

    def forward(self, x):
        return self.conv(x)


class _Registry:
    """Records layers in slim's variable-creation order with their TF scopes."""

    def __init__(self, bn_scale):
        self.units = []  # (scope relative to PREFIX, kind, module)
        self.bn_scale = bn_scale

    def conv_bn(self, scope, cin, cout, kernel, stride=1, padding="SAME"):
        m = ConvBN(cin, cout, kernel, stride, padding, self.bn_scale)
        self.units.append((scope, "conv_bn", m))
        return m

    def conv_bias(self, scope, cin, cout):
        m = ConvBias(cin, cout)
        self.units.append((scope, "conv_bias", m))
        return m

    def fc(self, scope, cin, cout):
        m = nn.Linear(cin, cout, bias=True)
        self.units.append((scope, "fc", m))
        return m


class Mixed5b(nn.Module):
    def __init__(self, reg, s):
        super().__init__()
        self.b0 = reg.conv_bn(s + "Branch_0/Conv2d_1x1", 192, 96, 1)
        self.b1a = reg.conv_bn(s + "Branch_1/Conv2d_0a_1x1", 192, 48, 1)
        self.b1b = reg.conv_bn(s + "Branch_1/Conv2d_0b_5x5", 48, 64, 5)
        self.b2a = reg.conv_bn(s + "Branch_2/Conv2d_0a_1x1", 192, 64, 1)
        self.b2b = reg.conv_bn(s + "Branch_2/Conv2d_0b_3x3", 64, 96, 3)
        self.b2c = reg.conv_bn(s + "Branch_2/Conv2d_0c_3x3", 96, 96, 3)
        self.b3b = reg.conv_bn(s + "Branch_3/Conv2d_0b_1x1", 192, 64, 1)

    def forward(self, x):
        # TF's SAME average pool divides by the in-bounds count only.
        pooled = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)),
                          self.b2c(self.b2b(self.b2a(x))), self.b3b(pooled)], 1)


class Block35(nn.Module):
    def __init__(self, reg, s, scale):
        super().__init__()
        self.scale = scale
        self.b0 = reg.conv_bn(s + "Branch_0/Conv2d_1x1", 320, 32, 1)
        self.b1a = reg.conv_bn(s + "Branch_1/Conv2d_0a_1x1", 320, 32, 1)
        self.b1b = reg.conv_bn(s + "Branch_1/Conv2d_0b_3x3", 32, 32, 3)
        self.b2a = reg.conv_bn(s + "Branch_2/Conv2d_0a_1x1", 320, 32, 1)
        self.b2b = reg.conv_bn(s + "Branch_2/Conv2d_0b_3x3", 32, 48, 3)
        self.b2c = reg.conv_bn(s + "Branch_2/Conv2d_0c_3x3", 48, 64, 3)
        self.up = reg.conv_bias(s + "Conv2d_1x1", 128, 320)

    def forward(self, x):
        mixed = torch.cat([self.b0(x), self.b1b(self.b1a(x)),
                           self.b2c(self.b2b(self.b2a(x)))], 1)
        return F.relu(x + self.scale * self.up(mixed))


class Block17(nn.Module):
    def __init__(self, reg, s, scale):
        super().__init__()
        self.scale = scale
        self.b0 = reg.conv_bn(s + "Branch_0/Conv2d_1x1", 1088, 192, 1)
        self.b1a = reg.conv_bn(s + "Branch_1/Conv2d_0a_1x1", 1088, 128, 1)
        self.b1b = reg.conv_bn(s + "Branch_1/Conv2d_0b_1x7", 128, 160, (1, 7))
        self.b1c = reg.conv_bn(s + "Branch_1/Conv2d_0c_7x1", 160, 192, (7, 1))
        self.up = reg.conv_bias(s + "Conv2d_1x1", 384, 1088)

    def forward(self, x):
        mixed = torch.cat([self.b0(x), self.b1c(self.b1b(self.b1a(x)))], 1)
        return F.relu(x + self.scale * self.up(mixed))


class Block8(nn.Module):
    def __init__(self, reg, s, scale, activation=True):
        super().__init__()
        self.scale = scale
        self.activation = activation
        self.b0 = reg.conv_bn(s + "Branch_0/Conv2d_1x1", 2080, 192, 1)
        self.b1a = reg.conv_bn(s + "Branch_1/Conv2d_0a_1x1", 2080, 192, 1)
        self.b1b = reg.conv_bn(s + "Branch_1/Conv2d_0b_1x3", 192, 224, (1, 3))
        self.b1c = reg.conv_bn(s + "Branch_1/Conv2d_0c_3x1", 224, 256, (3, 1))
        self.up = reg.conv_bias(s + "Conv2d_1x1", 448, 2080)

    def forward(self, x):
        mixed = torch.cat([self.b0(x), self.b1c(self.b1b(self.b1a(x)))], 1)
        out = x + self.scale * self.up(mixed)
        return F.relu(out) if self.activation else out


class Mixed6a(nn.Module):
    def __init__(self, reg, s):
        super().__init__()
        self.b0 = reg.conv_bn(s + "Branch_0/Conv2d_1a_3x3", 320, 384, 3, 2, "VALID")
        self.b1a = reg.conv_bn(s + "Branch_1/Conv2d_0a_1x1", 320, 256, 1)
        self.b1b = reg.conv_bn(s + "Branch_1/Conv2d_0b_3x3", 256, 256, 3)
        self.b1c = reg.conv_bn(s + "Branch_1/Conv2d_1a_3x3", 256, 384, 3, 2, "VALID")

    def forward(self, x):
        return torch.cat([self.b0(x), self.b1c(self.b1b(self.b1a(x))),
                          F.max_pool2d(x, 3, stride=2)], 1)


class Mixed7a(nn.Module):
    def __init__(self, reg, s):
        super().__init__()
        self.b0a = reg.conv_bn(s + "Branch_0/Conv2d_0a_1x1", 1088, 256, 1)
        self.b0b = reg.conv_bn(s + "Branch_0/Conv2d_1a_3x3", 256, 384, 3, 2, "VALID")
        self.b1a = reg.conv_bn(s + "Branch_1/Conv2d_0a_1x1", 1088, 256, 1)
        self.b1b = reg.conv_bn(s + "Branch_1/Conv2d_1a_3x3", 256, 288, 3, 2, "VALID")
        self.b2a = reg.conv_bn(s + "Branch_2/Conv2d_0a_1x1", 1088, 256, 1)
        self.b2b = reg.conv_bn(s + "Branch_2/Conv2d_0b_3x3", 256, 288, 3)
        self.b2c = reg.conv_bn(s + "Branch_2/Conv2d_1a_3x3", 288, 320, 3, 2, "VALID")

    def forward(self, x):
        return torch.cat([self.b0b(self.b0a(x)), self.b1b(self.b1a(x)),
                          self.b2c(self.b2b(self.b2a(x))),
                          F.max_pool2d(x, 3, stride=2)], 1)


class InceptionResNetV2(nn.Module):
    """num_classes=1000, dropout identity (inference), optional aux head."""

    def __init__(self, num_classes=1000, aux=True, bn_scale=True):
        super().__init__()
        reg = _Registry(bn_scale)
        self.aux = aux
        self.conv1a = reg.conv_bn("Conv2d_1a_3x3", 3, 32, 3, 2, "VALID")
        self.conv2a = reg.conv_bn("Conv2d_2a_3x3", 32, 32, 3, 1, "VALID")
        self.conv2b = reg.conv_bn("Conv2d_2b_3x3", 32, 64, 3)
        self.conv3b = reg.conv_bn("Conv2d_3b_1x1", 64, 80, 1, 1, "VALID")
        self.conv4a = reg.conv_bn("Conv2d_4a_3x3", 80, 192, 3, 1, "VALID")
        self.mixed5b = Mixed5b(reg, "Mixed_5b/")
        self.repeat = nn.Sequential(*[Block35(reg, f"Repeat/block35_{i}/", 0.17)
                                      for i in range(1, 11)])
        self.mixed6a = Mixed6a(reg, "Mixed_6a/")
        self.repeat1 = nn.Sequential(*[Block17(reg, f"Repeat_1/block17_{i}/", 0.10)
                                       for i in range(1, 21)])
        self.mixed7a = Mixed7a(reg, "Mixed_7a/")
        self.repeat2 = nn.Sequential(*[Block8(reg, f"Repeat_2/block8_{i}/", 0.20)
                                       for i in range(1, 10)])
        self.block8 = Block8(reg, "Block8/", 1.0, activation=False)
        self.conv7b = reg.conv_bn("Conv2d_7b_1x1", 2080, 1536, 1)
        if aux:
            self.aux_conv1b = reg.conv_bn("AuxLogits/Conv2d_1b_1x1", 1088, 128, 1)
            # Kernel = spatial size of the pooled map (5x5 at a 299 input).
            self.aux_conv2a = reg.conv_bn("AuxLogits/Conv2d_2a_5x5", 128, 768, 5, 1, "VALID")
            self.aux_fc = reg.fc("AuxLogits/Logits", 768, num_classes)
        self.fc = reg.fc("Logits/Logits", 1536, num_classes)
        # A plain list so the registry's modules are not registered twice.
        self._units = reg.units
        self.bn_scale = bn_scale

    def forward(self, x, want_aux=False, endpoints=None):
        """x: NCHW float. Returns logits, or (logits, aux_logits) if want_aux.

        endpoints: optional dict filled with NCHW intermediate tensors under
        the slim end-point names (plus Repeat, Repeat_1, Repeat_2, Block8).
        """
        ep = endpoints

        def mark(name, t):
            if ep is not None:
                ep[name] = t
            return t

        x = mark("Conv2d_1a_3x3", self.conv1a(x))
        x = mark("Conv2d_2a_3x3", self.conv2a(x))
        x = mark("Conv2d_2b_3x3", self.conv2b(x))
        x = mark("MaxPool_3a_3x3", F.max_pool2d(x, 3, stride=2))
        x = mark("Conv2d_3b_1x1", self.conv3b(x))
        x = mark("Conv2d_4a_3x3", self.conv4a(x))
        x = mark("MaxPool_5a_3x3", F.max_pool2d(x, 3, stride=2))
        x = mark("Mixed_5b", self.mixed5b(x))
        x = mark("Repeat", self.repeat(x))
        x = mark("Mixed_6a", self.mixed6a(x))
        x = mark("Repeat_1", self.repeat1(x))
        pre_aux = mark("PreAuxLogits", x)
        x = mark("Mixed_7a", self.mixed7a(x))
        x = mark("Repeat_2", self.repeat2(x))
        x = mark("Block8", self.block8(x))
        x = mark("Conv2d_7b_1x1", self.conv7b(x))
        aux_logits = None
        if self.aux and (want_aux or ep is not None):
            a = F.avg_pool2d(pre_aux, 5, stride=3)
            a = self.aux_conv2a(self.aux_conv1b(a))
            aux_logits = mark("AuxLogits", self.aux_fc(torch.flatten(a, 1)))
        # Slim pools with a kernel equal to the spatial size: a global mean.
        pooled = mark("global_pool", x.mean(dim=(2, 3), keepdim=True))
        flat = mark("PreLogitsFlatten", torch.flatten(pooled, 1))
        logits = mark("Logits", self.fc(flat))
        if ep is not None:
            ep["Predictions"] = torch.softmax(logits, dim=1)
        if want_aux:
            return logits, aux_logits
        return logits

    def tf_variables(self):
        """[(TF variable name, TF shape)] in slim's creation order."""
        out = []
        for scope, kind, m in self._units:
            base = PREFIX + scope + "/"
            if kind == "conv_bn":
                o, i, kh, kw = m.conv.weight.shape
                c = m.bn.num_features
                out.append((base + "weights:0", [kh, kw, i, o]))
                if m.bn_scale:
                    out.append((base + "BatchNorm/gamma:0", [c]))
                for v in ("beta", "moving_mean", "moving_variance"):
                    out.append((base + f"BatchNorm/{v}:0", [c]))
            elif kind == "conv_bias":
                o, i, _, _ = m.conv.weight.shape
                out.append((base + "weights:0", [1, 1, i, o]))
                out.append((base + "biases:0", [o]))
            else:
                o, i = m.weight.shape
                out.append((base + "weights:0", [i, o]))
                out.append((base + "biases:0", [o]))
        return out

    @torch.no_grad()
    def load_tf_variables(self, get):
        """Fill every parameter from get(tf_name) -> numpy array in TF layout.

        The caller guarantees names and shapes (see check_names); this only
        converts layouts: HWIO -> OIHW, FC [in, out] -> [out, in].
        """

        def put(dst, arr):
            dst.copy_(torch.from_numpy(arr).to(dst.dtype))

        for scope, kind, m in self._units:
            base = PREFIX + scope + "/"
            if kind in ("conv_bn", "conv_bias"):
                w = torch.from_numpy(get(base + "weights:0")).permute(3, 2, 0, 1)
                m.conv.weight.copy_(w.to(m.conv.weight.dtype))
            if kind == "conv_bn":
                bn = m.bn
                if m.bn_scale:
                    put(bn.weight, get(base + "BatchNorm/gamma:0"))
                else:
                    bn.weight.fill_(1.0)
                put(bn.bias, get(base + "BatchNorm/beta:0"))
                put(bn.running_mean, get(base + "BatchNorm/moving_mean:0"))
                put(bn.running_var, get(base + "BatchNorm/moving_variance:0"))
            elif kind == "conv_bias":
                put(m.conv.bias, get(base + "biases:0"))
            else:
                w = torch.from_numpy(get(base + "weights:0")).t()
                m.weight.copy_(w.to(m.weight.dtype))
                put(m.bias, get(base + "biases:0"))
