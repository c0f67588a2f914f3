"""Golden values for tests/nn/test_attention*.cpp and test_transformer*.cpp (PyTorch 1.13, f64).

sdpa.*: scaled dot-product attention from the PyTorch 2.x formula (1.13 has no
F.scaled_dot_product_attention): softmax(q k^T * scale + mask) v, bool masks true = attend, GQA by
repeat_interleave of k/v heads. rope.*: rotate-half rotary embedding from the reference formula.
mha.*, enc.*, dec.*, encoder.*: torch.nn modules in eval mode with their state dicts (NAME.sd.<key>).
patch.*: conv2d(kernel = stride = patch).flatten(2).transpose(1, 2), as timm's PatchEmbed.
Each case stores inputs, gout (and gw for attention weights), outputs and gradients d<input>."""
import math
import torch
import torch.nn.functional as F
from golden import GoldenWriter

torch.manual_seed(0)
D = torch.float64
w = GoldenWriter("attention")


def leaf(*shape):
    return torch.randn(*shape, dtype=D).requires_grad_()


def sdpa_ref(q, k, v, mask=None, is_causal=False, scale=None):
    L, S = q.size(-2), k.size(-2)
    scale = 1 / math.sqrt(q.size(-1)) if scale is None else scale
    if q.dim() >= 3 and q.size(-3) != k.size(-3):
        g = q.size(-3) // k.size(-3)
        k, v = k.repeat_interleave(g, dim=-3), v.repeat_interleave(g, dim=-3)
    s = q @ k.transpose(-2, -1) * scale
    if is_causal:
        s = s.masked_fill(~torch.ones(L, S, dtype=torch.bool).tril(), float("-inf"))
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else s + mask
    return torch.softmax(s, -1) @ v


def bool_mask(*shape):
    m = torch.rand(*shape) > 0.4
    m[..., 0] = True  # every query row keeps a key
    return m


def sdpa_case(name, qs, ks, vs, mask=None, is_causal=False, scale=None):
    q, k, v = leaf(*qs), leaf(*ks), leaf(*vs)
    out = sdpa_ref(q, k, v, mask, is_causal, scale)
    gout = torch.randn_like(out)
    dq, dk, dv = torch.autograd.grad(out, [q, k, v], gout)
    for n, t in dict(q=q, k=k, v=v, gout=gout, out=out, dq=dq, dk=dk, dv=dv).items():
        w.add(f"sdpa_{name}.{n}", t)
    if mask is not None:
        w.add(f"sdpa_{name}.mask", mask)


sdpa_case("plain", (2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 3))
sdpa_case("causal", (2, 2, 5, 4), (2, 2, 5, 4), (2, 2, 5, 4), is_causal=True)
sdpa_case("causal_rect", (1, 2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 3), is_causal=True)
sdpa_case("bool", (2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 4), mask=bool_mask(2, 1, 3, 5))
sdpa_case("float", (2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 4), mask=torch.randn(2, 3, 5, dtype=D))
sdpa_case("gqa", (1, 6, 3, 4), (1, 2, 5, 4), (1, 2, 5, 3), mask=torch.randn(6, 3, 5, dtype=D))
sdpa_case("gqa_causal", (1, 4, 5, 3), (1, 1, 5, 3), (1, 1, 5, 3), is_causal=True)
sdpa_case("gqa_bool", (2, 4, 3, 2), (2, 2, 4, 2), (2, 2, 4, 2), mask=bool_mask(2, 4, 3, 4))
sdpa_case("scale", (3, 3, 4), (3, 5, 4), (3, 5, 2), scale=0.3)
sdpa_case("twod", (3, 4), (5, 4), (5, 6))


# ---- rotary ----
def rope_tables(dim, max_len, base):
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=D) / dim))
    freqs = torch.outer(torch.arange(max_len, dtype=D), inv_freq)
    emb = torch.cat([freqs, freqs], -1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], -1)


def rope_case(name, xs, max_len, base, offset=None, positions=None):
    x = leaf(*xs)
    cos, sin = rope_tables(xs[-1], max_len, base)
    if positions is None:
        c, s = cos[offset:offset + xs[-2]], sin[offset:offset + xs[-2]]
    else:
        c, s = cos[positions], sin[positions]
        if positions.dim() == 2 and x.dim() == 4:
            c, s = c.unsqueeze(1), s.unsqueeze(1)
    out = x * c + rotate_half(x) * s
    gout = torch.randn_like(out)
    (dx,) = torch.autograd.grad(out, [x], gout)
    for n, t in dict(x=x, gout=gout, out=out, dx=dx).items():
        w.add(f"rope_{name}.{n}", t)
    if positions is not None:
        w.add(f"rope_{name}.positions", positions)


rope_case("offset", (2, 2, 5, 8), 16, 10000.0, offset=2)
rope_case("positions", (2, 2, 4, 6), 32, 500.0, positions=torch.randint(0, 32, (2, 4)))
rope_case("positions1d", (4, 6), 10, 10000.0, positions=torch.tensor([7, 0, 3, 9]))


# ---- modules ----
def save_module(name, m):
    for k, t in m.state_dict().items():
        w.add(f"{name}.sd.{k}", t)


def grads(name, out, inputs, params, m, extra=()):
    """Backpropagates gout (and gw for the extra outputs); stores out, gout and every gradient."""
    gout = torch.randn_like(out)
    outs, gs = [out], [gout]
    w.add(f"{name}.out", out)
    w.add(f"{name}.gout", gout)
    for i, e in enumerate(extra):
        ge = torch.randn_like(e)
        outs.append(e)
        gs.append(ge)
        w.add(f"{name}.w{i}", e)
        w.add(f"{name}.gw{i}", ge)
    named = dict(m.named_parameters())
    tensors = list(inputs.values()) + [named[p] for p in params]
    gr = torch.autograd.grad(outs, tensors, gs)
    for (n, t), g in zip(list(inputs.items()) + [(p, named[p]) for p in params], gr):
        w.add(f"{name}.in.{n}" if n in inputs else f"{name}.d.{n}", t if n in inputs else g)
        if n in inputs:
            w.add(f"{name}.d.{n}", g)


def mha_case(name, m, q, k, v, **kw):
    m = m.double().eval()
    save_module(name, m)
    for mk in ("key_padding_mask", "attn_mask"):
        if kw.get(mk) is not None:
            w.add(f"{name}.{mk}", kw[mk])
    out, wts = m(q, k, v, **kw)
    inputs = {"query": q} if (q is k and k is v) else {"query": q, "key": k, "value": v}
    params = ["in_proj_weight" if m._qkv_same_embed_dim else "k_proj_weight", "out_proj.weight"]
    if m.in_proj_bias is not None:
        params.append("in_proj_bias")
    grads(name, out, inputs, params, m, extra=[wts] if wts is not None else [])


E, H = 4, 2
kpm = torch.zeros(3, 5, dtype=torch.bool)
kpm[0, 3:] = True
kpm[2, 4] = True
am = torch.zeros(4, 5, dtype=torch.bool)
am[0, 1] = am[1, 2] = am[3, 0] = True
mha_case("mha_seq", torch.nn.MultiheadAttention(E, H), leaf(4, 3, E), leaf(5, 3, E), leaf(5, 3, E),
         key_padding_mask=kpm, attn_mask=am)
x = leaf(2, 5, E)
mha_case("mha_bf_self", torch.nn.MultiheadAttention(E, H, batch_first=True), x, x, x,
         attn_mask=torch.randn(2 * H, 5, 5, dtype=D), average_attn_weights=False)
mha_case("mha_kvdim", torch.nn.MultiheadAttention(E, H, kdim=6, vdim=7), leaf(3, 2, E), leaf(4, 2, 6),
         leaf(4, 2, 7), key_padding_mask=torch.randn(2, 4, dtype=D))
mha_case("mha_unbatched", torch.nn.MultiheadAttention(E, H), leaf(4, E), leaf(5, E), leaf(5, E),
         key_padding_mask=torch.tensor([False, False, True, False, True]),
         attn_mask=torch.randn(H, 4, 5, dtype=D))
mha_case("mha_nobias", torch.nn.MultiheadAttention(E, H, bias=False, batch_first=True), leaf(2, 3, E),
         leaf(2, 4, E), leaf(2, 4, E), need_weights=False)

LAYER_PARAMS = ["self_attn.in_proj_weight", "linear1.weight", "norm1.weight", "linear2.bias"]


def enc_case(name, m, src, **kw):
    m = m.double().eval()
    save_module(name, m)
    for mk in ("src_mask", "src_key_padding_mask", "mask"):
        if kw.get(mk) is not None:
            w.add(f"{name}.{mk}", kw[mk])
    out = m(src, **kw)
    params = LAYER_PARAMS if not name.startswith("encoder") else ["layers.0.linear1.weight", "layers.1.norm2.bias",
                                                                   "norm.weight"]
    grads(name, out, {"src": src}, params, m)


causal = torch.ones(5, 5, dtype=torch.bool).triu(1)  # true = blocked
skpm = torch.zeros(2, 5, dtype=torch.bool)
skpm[1, 3:] = True
enc_case("enc_post", torch.nn.TransformerEncoderLayer(E, H, 6, 0.1), leaf(5, 2, E), src_mask=causal,
         src_key_padding_mask=skpm)
enc_case("enc_pre", torch.nn.TransformerEncoderLayer(E, H, 6, 0.1, activation="gelu", batch_first=True,
                                                     norm_first=True), leaf(2, 5, E),
         src_mask=torch.randn(5, 5, dtype=D))
enc_case("encoder", torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(E, H, 6, 0.0, batch_first=True), 2,
                                                norm=torch.nn.LayerNorm(E), enable_nested_tensor=False),
         leaf(2, 5, E), src_key_padding_mask=skpm)


def dec_case(name, m, tgt, memory, **kw):
    m = m.double().eval()
    save_module(name, m)
    for mk, t in kw.items():
        w.add(f"{name}.{mk}", t)
    out = m(tgt, memory, **kw)
    grads(name, out, {"tgt": tgt, "memory": memory},
          LAYER_PARAMS + ["multihead_attn.in_proj_weight", "norm3.weight"], m)


mkpm = torch.zeros(2, 6, dtype=torch.bool)
mkpm[0, 4:] = True
dec_case("dec_post", torch.nn.TransformerDecoderLayer(E, H, 6, 0.1), leaf(5, 2, E), leaf(6, 2, E),
         tgt_mask=causal, memory_key_padding_mask=mkpm)
dec_case("dec_pre", torch.nn.TransformerDecoderLayer(E, H, 6, 0.1, activation="gelu", batch_first=True,
                                                     norm_first=True), leaf(2, 5, E), leaf(2, 6, E),
         tgt_key_padding_mask=skpm, memory_mask=torch.randn(5, 6, dtype=D))

# ---- patch embedding (timm's PatchEmbed forward) ----
x, pw, pb = leaf(2, 2, 4, 6), leaf(3, 2, 2, 2), leaf(3)
out = F.conv2d(x, pw, pb, stride=2).flatten(2).transpose(1, 2)
gout = torch.randn_like(out)
dx, dw, db = torch.autograd.grad(out, [x, pw, pb], gout)
for n, t in dict(x=x, weight=pw, bias=pb, gout=gout, out=out, dx=dx, dweight=dw, dbias=db).items():
    w.add(f"patch.{n}", t)

w.save()
