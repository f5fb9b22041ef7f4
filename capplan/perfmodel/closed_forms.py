"""Closed-form FLOP, parameter and activation counts from published model shapes.

Every network is walked layer by layer with ``Counter``: a convolution or linear layer adds its
multiply-accumulates (MACs; 2 FLOPs each), weights (biases where the model has them), and the
activation elements it reads and writes. Norms, activations and softmax are elementwise and left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from capplan.perfmodel.desc import WorkloadDesc


@dataclass
class Counter:
    """Running totals of one network: MACs, parameters, activation traffic and the largest live set."""

    macs: float = 0.0
    params: float = 0.0
    io: float = 0.0
    live: float = 0.0
    outputs: list[tuple[int, int]] = field(default_factory=list)  # (channels, side) marked by the walker

    def conv(
        self, cin: int, cout: int, k: int, hw_out: int, hw_in: int, *, groups: int = 1, bias: bool = False
    ) -> None:
        """A k x k convolution on a square hw_in map producing a square hw_out map."""
        self.macs += cin // groups * cout * k * k * hw_out * hw_out
        self.params += cin // groups * cout * k * k + (cout if bias else 0)
        elems = cin * hw_in * hw_in + cout * hw_out * hw_out
        self.io += elems
        self.live = max(self.live, elems)

    def linear(self, din: int, dout: int, tokens: float, *, bias: bool = True) -> None:
        """A dense layer applied to ``tokens`` positions."""
        self.macs += din * dout * tokens
        self.params += din * dout + (dout if bias else 0)
        elems = (din + dout) * tokens
        self.io += elems
        self.live = max(self.live, elems)

    def describe(self, name: str, family: str, source: str) -> WorkloadDesc:
        """The totals as a one-sample WorkloadDesc (2 FLOPs per MAC; backward keeps half the traffic)."""
        return WorkloadDesc(
            name=name,
            family=family,
            flops_per_sample=2 * self.macs,
            param_count=self.params,
            io_elems_per_sample=self.io,
            live_elems_per_sample=self.live,
            saved_elems_per_sample=self.io / 2,
            source=source,
        )

    def attention(self, tokens_q: float, tokens_kv: float, dim: int) -> None:
        """Scores (Q K^T) and weighted values (A V) over ``dim`` channels; no weights."""
        self.macs += 2 * tokens_q * tokens_kv * dim
        self.live = max(self.live, tokens_q * tokens_kv)


# -- transformers ---------------------------------------------------------------------------------
def transformer(
    name: str,
    family: str,
    *,
    layers: int,
    d_model: int,
    d_ff: int,
    vocab: int,
    seq_len: int,
    positions: int = 0,
    kv_dim: int | None = None,
    gated_ffn: bool = False,
    lm_head: bool = False,
    tied_head: bool = True,
    causal: bool = False,
    experts: int = 0,
    experts_per_token: int = 0,
    source: str,
) -> WorkloadDesc:
    """Encoder or decoder stack: per layer Q,O (d x d), K,V (d x kv_dim), an FFN of 2 (3 when gated)
    d x d_ff matrices, or ``experts`` such FFNs of which each token uses ``experts_per_token``.

    Attention is counted over the full S x S score matrix, or its lower half when ``causal`` (kernels
    such as FlashAttention skip the masked blocks). Biases and norms are left out.
    """
    kv = kv_dim or d_model
    attn_params = 2 * d_model * d_model + 2 * d_model * kv
    ffn_params = (3 if gated_ffn else 2) * d_model * d_ff
    moe = experts > 0
    expert_params = layers * experts * ffn_params if moe else 0.0
    router = layers * d_model * experts if moe else 0
    layer_params = attn_params + (0 if moe else ffn_params)
    head = vocab * d_model if lm_head else 0
    active_ffn = layers * experts_per_token * ffn_params if moe else 0
    active_matmul = layers * layer_params + router + active_ffn + head
    embed_params = vocab * d_model * (2 if lm_head and not tied_head else 1) + positions * d_model
    total = layers * layer_params + router + expert_params + embed_params
    attn_share = 0.5 if causal else 1.0
    attn_flops = attn_share * 4 * layers * seq_len * seq_len * d_model  # Q K^T and A V
    # Per token per layer, read+write of: input, Q/K/V, attention output, projection, FFN hidden, FFN output.
    ffn_width = d_ff * (experts_per_token if moe else 1)
    io_per_token = layers * 2 * (5 * d_model + 2 * kv + ffn_width)
    decoder = family not in {"bert"}
    return WorkloadDesc(
        name=name,
        family=family,
        seq_len=seq_len,
        flops_per_sample=2 * active_matmul * seq_len + attn_flops,
        param_count=total,
        active_param_count=(total - expert_params + active_ffn) if moe else None,
        expert_param_count=expert_params,
        experts=experts,
        experts_per_token=experts_per_token,
        io_elems_per_sample=io_per_token * seq_len,
        live_elems_per_sample=seq_len * (4 * d_model + ffn_width) + seq_len * seq_len,
        saved_elems_per_sample=io_per_token * seq_len / 2,
        kv_elems_per_token=2 * layers * kv if decoder else None,
        decode_param_count=active_matmul if decoder else None,
        decode_attn_flops_per_ctx=4 * layers * d_model if decoder else 0,
        layers=layers,
        d_model=d_model,
        source=source,
    )


def whisper(
    name: str,
    *,
    enc_layers: int,
    dec_layers: int,
    d_model: int,
    d_ff: int,
    vocab: int,
    mels: int,
    audio_frames: int,
    text_positions: int,
    source: str,
) -> WorkloadDesc:
    """Encoder-decoder speech model: two convolutions over ``audio_frames`` mel frames (the second with
    stride 2), a full-attention encoder over the halved frames, a decoder with self-attention over the
    text and cross-attention over the encoder output, tied output projection.

    Per sample the "prompt" phase is the encoder plus the cross-attention keys/values of every decoder
    layer; each generated token runs the decoder once and reads the cross-attention cache.
    """
    frames = audio_frames // 2
    enc = Counter()
    enc.macs += mels * d_model * 3 * audio_frames + d_model * d_model * 3 * frames
    enc.params += mels * d_model * 3 + d_model * d_model * 3 + frames * d_model  # convs + positions
    for _ in range(enc_layers):
        for _ in range(4):
            enc.linear(d_model, d_model, frames)
        enc.attention(frames, frames, d_model)
        enc.linear(d_model, d_ff, frames)
        enc.linear(d_ff, d_model, frames)
    cross_kv_macs = dec_layers * 2 * d_model * d_model * frames
    per_layer = 4 * d_model * d_model + 4 * d_model * d_model + 2 * d_model * d_ff  # self, cross, FFN
    dec_matmul = dec_layers * per_layer + vocab * d_model  # tied head
    dec_params = dec_layers * per_layer + vocab * d_model + text_positions * d_model
    return WorkloadDesc(
        name=name,
        family="whisper",
        seq_len=frames,
        flops_per_sample=2 * (enc.macs + cross_kv_macs),
        param_count=enc.params + dec_params,
        io_elems_per_sample=enc.io,
        live_elems_per_sample=enc.live,
        saved_elems_per_sample=enc.io / 2,
        kv_elems_per_token=2 * dec_layers * d_model,
        kv_fixed_elems_per_sequence=2 * dec_layers * d_model * frames,
        decoder_prompt_tokens=0,
        decode_param_count=dec_matmul,
        decode_attn_flops_per_ctx=4 * dec_layers * d_model,
        decode_fixed_flops=4 * dec_layers * d_model * frames,
        layers=dec_layers,
        d_model=d_model,
        source=source,
    )


# -- convolutional networks ------------------------------------------------------------------------
def _bottleneck_backbone(
    c: Counter,
    *,
    blocks: tuple[int, ...],
    stem: int,
    side: int,
    groups: int = 1,
    width_per_group: int | None = None,
) -> int:
    """ResNet/ResNeXt v1.5 trunk (stride on the 3x3 conv); marks each stage's output; returns channels."""
    hw = side // 2
    c.conv(3, stem, 7, hw, side)
    hw = (hw + 1) // 2  # max-pool
    cin = stem
    for stage, count in enumerate(blocks):
        width = (groups * width_per_group if width_per_group else stem) * 2**stage
        out = stem * 4 * 2**stage
        for b in range(count):
            stride = 2 if stage > 0 and b == 0 else 1
            out_hw = (hw + stride - 1) // stride
            c.conv(cin, width, 1, hw, hw)
            c.conv(width, width, 3, out_hw, hw, groups=groups)
            c.conv(width, out, 1, out_hw, out_hw)
            if b == 0:
                c.conv(cin, out, 1, out_hw, hw)
            cin, hw = out, out_hw
        c.outputs.append((cin, hw))
    return cin


def resnet(
    name: str,
    *,
    blocks: tuple[int, ...] = (3, 4, 6, 3),
    stem: int = 64,
    side: int = 224,
    classes: int = 1000,
    groups: int = 1,
    width_per_group: int | None = None,
    source: str,
) -> WorkloadDesc:
    """Bottleneck ResNet v1.5 or ResNeXt (``groups`` x ``width_per_group``) classifier."""
    c = Counter()
    cin = _bottleneck_backbone(
        c, blocks=blocks, stem=stem, side=side, groups=groups, width_per_group=width_per_group
    )
    c.macs += cin * classes
    c.params += cin * classes + classes
    return c.describe(name, "resnet", source)


def retinanet(
    name: str,
    *,
    classes: int,
    side: int = 800,
    groups: int = 1,
    width_per_group: int | None = None,
    anchors: int = 9,
    fpn: int = 256,
    source: str,
) -> WorkloadDesc:
    """RetinaNet: ResNet/ResNeXt-50 trunk, FPN on C3-C5 with P6/P7 (stride-2 3x3 convs from P5), and
    class and box subnets (4 x 3x3 conv + a 3x3 output conv, with biases) shared across P3-P7."""
    c = Counter()
    _bottleneck_backbone(
        c, blocks=(3, 4, 6, 3), stem=64, side=side, groups=groups, width_per_group=width_per_group
    )
    levels = []
    for channels, hw in c.outputs[1:]:  # C3, C4, C5
        c.conv(channels, fpn, 1, hw, hw, bias=True)
        c.conv(fpn, fpn, 3, hw, hw, bias=True)
        levels.append(hw)
    for _ in range(2):  # P6, P7
        hw = (levels[-1] + 1) // 2
        c.conv(fpn, fpn, 3, hw, levels[-1], bias=True)
        levels.append(hw)
    params_before_heads = c.params
    for out in (anchors * classes, anchors * 4):
        for hw in levels:
            for _ in range(4):
                c.conv(fpn, fpn, 3, hw, hw, bias=True)
            c.conv(fpn, out, 3, hw, hw, bias=True)
    head_params_all_levels = c.params - params_before_heads
    c.params = params_before_heads + head_params_all_levels / len(levels)  # head weights are shared
    return c.describe(name, "retinanet", source)


def _resblock(c: Counter, cin: int, cout: int, hw: int, temb: int = 0) -> None:
    """Diffusers ResnetBlock2D: two 3x3 convs, a time-embedding projection, a 1x1 shortcut when the
    widths differ."""
    c.conv(cin, cout, 3, hw, hw, bias=True)
    if temb:
        c.linear(temb, cout, 1)
    c.conv(cout, cout, 3, hw, hw, bias=True)
    if cin != cout:
        c.conv(cin, cout, 1, hw, hw, bias=True)


def _transformer2d(c: Counter, dim: int, hw: int, depth: int, context_dim: int, context_tokens: int) -> None:
    """Diffusers Transformer2DModel with linear projections: ``depth`` blocks of self-attention,
    cross-attention to the text (``context_tokens`` x ``context_dim``) and a GEGLU feed-forward (4x)."""
    tokens = hw * hw
    c.linear(dim, dim, tokens)  # proj_in
    for _ in range(depth):
        for bias in (False, False, False, True):  # self-attention q, k, v, out
            c.linear(dim, dim, tokens, bias=bias)
        c.attention(tokens, tokens, dim)
        c.linear(dim, dim, tokens, bias=False)  # cross-attention q
        c.linear(context_dim, dim, context_tokens, bias=False)  # k
        c.linear(context_dim, dim, context_tokens, bias=False)  # v
        c.linear(dim, dim, tokens)  # out
        c.attention(tokens, context_tokens, dim)
        c.linear(dim, 8 * dim, tokens)  # GEGLU: two 4x projections in one
        c.linear(4 * dim, dim, tokens)
    c.linear(dim, dim, tokens)  # proj_out


def sdxl_unet(
    *,
    latent: int = 128,
    channels: tuple[int, ...] = (320, 640, 1280),
    depths: tuple[int, ...] = (0, 2, 10),
    context_dim: int = 2048,
    context_tokens: int = 77,
    temb: int = 1280,
    add_embed_in: int = 2816,
    mid_depth: int | None = None,
) -> Counter:
    """A diffusers UNet2DConditionModel (layers_per_block 2) for one latent; the defaults are SDXL's
    (SD 1.x: channels (320, 640, 1280, 1280), depths (1, 1, 1, 0), context 768, no added embedding,
    mid_depth 1). ``mid_depth`` defaults to the deepest level's transformer depth."""
    c = Counter()
    c.linear(channels[0], temb, 1)  # time embedding MLP
    c.linear(temb, temb, 1)
    if add_embed_in:
        c.linear(add_embed_in, temb, 1)  # pooled-text + size conditioning
        c.linear(temb, temb, 1)
    hw = latent
    c.conv(4, channels[0], 3, hw, hw, bias=True)
    skips = [channels[0]]
    cin = channels[0]
    for level, (width, depth) in enumerate(zip(channels, depths, strict=True)):
        for _ in range(2):
            _resblock(c, cin, width, hw, temb)
            if depth:
                _transformer2d(c, width, hw, depth, context_dim, context_tokens)
            cin = width
            skips.append(width)
        if level < len(channels) - 1:
            c.conv(width, width, 3, hw // 2, hw, bias=True)  # downsample
            hw //= 2
            skips.append(width)
    _resblock(c, cin, cin, hw, temb)
    _transformer2d(c, cin, hw, depths[-1] if mid_depth is None else mid_depth, context_dim, context_tokens)
    _resblock(c, cin, cin, hw, temb)
    for level in reversed(range(len(channels))):
        width, depth = channels[level], depths[level]
        for _ in range(3):
            _resblock(c, cin + skips.pop(), width, hw, temb)
            if depth:
                _transformer2d(c, width, hw, depth, context_dim, context_tokens)
            cin = width
        if level > 0:
            c.conv(width, width, 3, hw * 2, hw * 2, bias=True)  # upsample (nearest) then conv
            hw *= 2
    c.conv(channels[0], 4, 3, hw, hw, bias=True)
    return c


def vae_decoder(
    *,
    side: int = 1024,
    channels: tuple[int, ...] = (128, 256, 512, 512),
    latent_channels: int = 4,
) -> Counter:
    """The SD/SDXL VAE decoder (diffusers AutoencoderKL, layers_per_block 2) for one image."""
    c = Counter()
    hw = side // 2 ** (len(channels) - 1)
    top = channels[-1]
    c.conv(latent_channels, latent_channels, 1, hw, hw, bias=True)  # post_quant_conv
    c.conv(latent_channels, top, 3, hw, hw, bias=True)
    _resblock(c, top, top, hw)
    for _ in range(3):  # single-head attention: q, k, v, out
        c.linear(top, top, hw * hw)
    c.attention(hw * hw, hw * hw, top)
    c.linear(top, top, hw * hw)
    _resblock(c, top, top, hw)
    cin = top
    for level in reversed(range(len(channels))):
        width = channels[level]
        for _ in range(3):
            _resblock(c, cin, width, hw)
            cin = width
        if level > 0:
            c.conv(width, width, 3, hw * 2, hw * 2, bias=True)
            hw *= 2
    c.conv(channels[0], 3, 3, hw, hw, bias=True)
    return c


def stable_diffusion_xl(
    name: str,
    *,
    steps: int,
    side: int = 1024,
    guidance: bool = True,
    text_encoders: tuple[WorkloadDesc, ...],
    source: str,
) -> WorkloadDesc:
    """One image: both text encoders on the prompt (and the negative prompt under classifier-free
    guidance), ``steps`` UNet evaluations on 2 latents (1 without guidance), one VAE decode.
    The UNet's weights are read once per step (``weight_passes``) for the whole batch."""
    unet = sdxl_unet(latent=side // 8)
    vae = vae_decoder(side=side)
    latents = 2 if guidance else 1
    text_flops = latents * sum(t.flops_per_sample for t in text_encoders)
    text_params = sum(t.param_count for t in text_encoders)
    return WorkloadDesc(
        name=name,
        family="diffusion",
        flops_per_sample=2 * (steps * latents * unet.macs + vae.macs) + text_flops,
        param_count=unet.params + vae.params + text_params,
        weight_passes=steps,
        io_elems_per_sample=steps * latents * unet.io + vae.io,
        live_elems_per_sample=max(latents * unet.live, vae.live),
        saved_elems_per_sample=latents * unet.io / 2,
        source=source,
    )


def dlrm_dcnv2(
    name: str,
    *,
    dense_features: int,
    bottom: tuple[int, ...],
    top: tuple[int, ...],
    tables: int,
    embedding_dim: int,
    embedding_rows: int,
    lookups_per_pair: int,
    cross_layers: int,
    cross_rank: int,
    pairs_per_sample: int,
    source: str,
) -> WorkloadDesc:
    """DLRM with a low-rank DCNv2 interaction: bottom MLP on the dense features, one embedding per table
    (multi-hot lookups pooled), cross layers x_{l+1} = x0 * (U (V^T x_l)) + x_l on the concatenation of
    the bottom output and the pooled embeddings, top MLP. One MLPerf sample bundles ``pairs_per_sample``
    user-item pairs."""
    c = Counter()
    width = dense_features
    for out in bottom:
        c.linear(width, out, 1)
        width = out
    interaction = embedding_dim * (tables + 1)
    for _ in range(cross_layers):
        c.linear(interaction, cross_rank, 1, bias=False)
        c.linear(cross_rank, interaction, 1)
    width = interaction
    for out in top:
        c.linear(width, out, 1)
        width = out
    sparse = embedding_rows * embedding_dim
    return WorkloadDesc(
        name=name,
        family="dlrm",
        flops_per_sample=2 * c.macs * pairs_per_sample,
        param_count=c.params + sparse,
        sparse_param_count=sparse,
        lookup_elems_per_sample=lookups_per_pair * embedding_dim * pairs_per_sample,
        io_elems_per_sample=c.io * pairs_per_sample,
        live_elems_per_sample=c.live * pairs_per_sample,
        saved_elems_per_sample=c.io * pairs_per_sample / 2,
        source=source,
    )
