"""Recurrent Highway Network Note RNN (Zilly, Srivastava, Koutník, Schmidhuber, ICML 2017).

One recurrence step is ``L`` highway micro-layers. With ``s_0^{[t]} = s_L^{[t-1]}`` and the
one-hot input ``x^{[t]}`` entering only the first micro-layer (``[l = 1]`` is 1 there, else 0):

.. math::

    h_l &= \\tanh(W_H x^{[t]} [l = 1] + R_{H_l} s_{l-1} + b_{H_l}) \\\\
    t_l &= \\sigma(W_T x^{[t]} [l = 1] + R_{T_l} s_{l-1} + b_{T_l}) \\\\
    s_l &= h_l \\cdot t_l + s_{l-1} \\cdot (1 - t_l)

(coupled carry gate ``c = 1 - t``). The transform-gate biases start at
``config.transform_bias`` (negative, default -2) so every micro-layer starts close to the
identity. The logits are a linear layer ``output`` on ``s_L^{[t]}``.

Variational dropout (training only, ``config.dropout > 0``): one mask per sequence, shared by
all time steps, on the input tokens, on the state entering each micro-layer's matrices (not on
the carry path) and on the output state.

Speed: per-step autograd over ~6 small ops per micro-layer is what made a prototype 3x slower
than ``torch.nn.LSTM``. Here the whole sequence runs inside one :class:`torch.autograd.Function`
with a hand-written backward through time: the input projection of all steps is one gather, H
and T share one matrix product per micro-layer, buffers are preallocated, the local derivatives
are computed for all steps at once after the forward loop, the backward loop costs three ops per
micro-layer, and the weight gradients are one large matrix product per micro-layer at the end.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pretrain.deep_transition import DeepTransitionNoteRNN
from pretrain.note_rnn import NoteRNNConfig, State


def _rhn_forward_loop(
    xw: torch.Tensor,
    recurrent: torch.Tensor,
    bias: torch.Tensor,
    u0: torch.Tensor,
    masks: torch.Tensor | None,
    keep_buffers: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, list[torch.Tensor]]:
    """Run the recurrence over ``T`` steps without autograd, in the fast parametrisation.

    The fast parametrisation (see :func:`_fast_parameters`) keeps ``u = s + 1`` instead of ``s``
    and doubles the h pre-activations, so one sigmoid gives both gates
    (``tanh(a) = 2 sigmoid(2a) - 1``) and each micro-layer is four ops::

        [g', g] = sigmoid(p),  p = b'' + u @ R''     (one addmm, one sigmoid)
        d = u - 2 g'                                 (= s - h)
        u <- u - g d                                 (= u + t (h - s))

    :param xw: ``[T, B, 2H]`` fast input projection of every step (first micro-layer's bias in it).
    :param recurrent: ``[L, H, 2H]`` fast recurrent weights.
    :param bias: ``[L, 2H]`` fast biases (row 0 unused: it is inside ``xw``).
    :param u0: ``[B, H]`` initial ``s + 1``.
    :param masks: ``[L, B, H]`` dropout masks on the state entering each micro-layer's matrices.
        They multiply ``s``, not ``u``: the caller folds ``(1 - m) @ R''`` into a per-sequence bias,
        so here the masked matrix input is ``u * m`` (see :func:`_fast_parameters`).
    :returns: ``(last, acts, diffs, inputs)``: ``last`` ``[T + 1, B, H]`` with ``last[0] = u0`` and
        ``last[t + 1]`` the ``u`` after step ``t``; ``acts`` ``[L, T, B, 2H]`` = ``[g', g]``;
        ``diffs`` ``[L, T, B, H]`` = ``d`` (None unless ``keep_buffers``); ``inputs[l]``
        ``[T, B, H]`` the (masked) matrix input of micro-layer ``l`` (only with ``keep_buffers``).
    """
    steps, batch, _ = xw.shape
    depth, hidden, _ = recurrent.shape
    last = xw.new_empty(steps + 1, batch, hidden)
    last[0] = u0
    acts = xw.new_empty(depth, steps, batch, 2 * hidden)
    if keep_buffers:
        middle = [xw.new_empty(steps, batch, hidden) for _ in range(depth - 1)]
        diffs = xw.new_empty(depth, steps, batch, hidden)
        dropped = (
            [xw.new_empty(steps, batch, hidden) for _ in range(depth)]
            if masks is not None
            else None
        )
    else:
        scratch = [xw.new_empty(batch, hidden) for _ in range(depth - 1)]
        diff = xw.new_empty(batch, hidden)
        drop_scratch = xw.new_empty(batch, hidden) if masks is not None else None
    for t in range(steps):
        u = last[t]
        for layer in range(depth):
            a = acts[layer, t]
            u_in = u
            if masks is not None:
                u_in = torch.mul(
                    u, masks[layer], out=dropped[layer][t] if keep_buffers else drop_scratch
                )
            torch.addmm(xw[t] if layer == 0 else bias[layer], u_in, recurrent[layer], out=a)
            torch.sigmoid(a, out=a)
            if layer == depth - 1:
                nxt = last[t + 1]
            elif keep_buffers:
                nxt = middle[layer][t]
            else:
                nxt = scratch[layer]
            d = diffs[layer, t] if keep_buffers else diff
            torch.sub(u, a[:, :hidden], alpha=2.0, out=d)
            torch.addcmul(u, a[:, hidden:], d, value=-1.0, out=nxt)
            u = nxt
    if not keep_buffers:
        return last, acts, None, []
    inputs = dropped if dropped is not None else [last[:steps]] + middle
    return last, acts, diffs, inputs


class _RHNSequence(torch.autograd.Function):
    """The RHN recurrence over a whole sequence (fast parametrisation) with a hand-written
    backward through time."""

    @staticmethod
    def forward(ctx, xw, recurrent, bias, u0, masks):  # noqa: D102
        last, acts, diffs, inputs = _rhn_forward_loop(
            xw, recurrent, bias, u0, masks, keep_buffers=True
        )
        hidden = recurrent.shape[1]
        gh = acts[..., :hidden]  # g' = sigmoid(2 a_h), h = 2 g' - 1
        g = acts[..., hidden:]  # transform gate t
        ctx.gate_means = g.mean(dim=(1, 2, 3))
        # Local derivatives of all steps at once, negated (the sign is folded into alpha=-1 in
        # backward), written over the activations to avoid new large buffers:
        #   -dL/dp_h = -2 g g'(1 - g') delta,   -dL/dp_t = d g (1 - g) delta,   du/du (carry) = 1 - g.
        carry = torch.rsub(g, 1.0)
        torch.addcmul(gh, gh, gh, value=-1.0, out=gh)
        gh.mul_(g).mul_(-2.0)
        diffs.mul_(g)
        torch.mul(diffs, carry, out=g)
        del diffs
        ctx.save_for_backward(recurrent, masks if masks is not None else torch.empty(0))
        ctx.factors = acts
        ctx.carry = carry
        ctx.matmul_inputs = inputs
        ctx.has_masks = masks is not None
        ctx.bias_dims = bias.dim()
        return last[1:]

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        recurrent, masks = ctx.saved_tensors
        bias_dims = ctx.bias_dims
        factors, carry, inputs = ctx.factors, ctx.carry, ctx.matmul_inputs
        depth, hidden, _ = recurrent.shape
        steps, batch, _ = grad_out.shape
        recurrent_t = recurrent.transpose(1, 2)
        grad_pre = torch.empty_like(factors)  # -dL/dp, [L, T, B, 2H]
        grad_out = grad_out.contiguous()
        delta = grad_out[steps - 1].clone()
        tmp = grad_out.new_empty(batch, hidden)
        for t in range(steps - 1, -1, -1):
            for layer in range(depth - 1, -1, -1):
                da = grad_pre[layer, t]
                torch.mul(
                    factors[layer, t].view(batch, 2, hidden),
                    delta.unsqueeze(1),
                    out=da.view(batch, 2, hidden),
                )
                if layer == 0 and t > 0:
                    carried = torch.addcmul(grad_out[t - 1], delta, carry[layer, t])
                else:
                    carried = delta * carry[layer, t]
                if ctx.has_masks:
                    torch.mm(da, recurrent_t[layer], out=tmp)
                    delta = torch.addcmul(carried, tmp, masks[layer], value=-1.0)
                else:
                    delta = torch.addmm(carried, da, recurrent_t[layer], alpha=-1.0)
        grad_recurrent = torch.empty_like(recurrent)
        for layer in range(depth):
            torch.mm(
                inputs[layer].reshape(steps * batch, hidden).t(),
                grad_pre[layer].reshape(steps * batch, 2 * hidden),
                out=grad_recurrent[layer],
            )
        grad_recurrent.neg_()
        # A per-sequence bias ([L, B, 2H], from dropout) sums over time only.
        grad_bias = grad_pre.sum(dim=(1, 2) if bias_dims == 2 else 1).neg_()
        grad_bias[0] = 0  # the first micro-layer's bias reaches the loss through xw
        return grad_pre[0].neg_(), grad_recurrent, grad_bias, delta, None


def _fast_parameters(
    input_weight: torch.Tensor, recurrent: torch.Tensor, bias: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Map ``(W, R, b)`` to the fast parametrisation (differentiably; these are small tensors).

    With ``c = [2, ..., 2, 1, ..., 1]`` (2 on the h columns) and ``u = s + 1``:
    ``c (b + s R) = c (b - 1 R) + u (c R)``. Returns ``(W c, R c, (b - 1 R) c, c)``.
    """
    hidden = recurrent.shape[1]
    scale = torch.ones(2 * hidden, dtype=recurrent.dtype, device=recurrent.device)
    scale[:hidden] = 2.0
    fast_recurrent = recurrent * scale
    fast_bias = (bias - recurrent.sum(dim=1)) * scale
    return input_weight * scale, fast_recurrent, fast_bias, scale


def rhn_reference(
    xw: torch.Tensor,
    recurrent: torch.Tensor,
    bias: torch.Tensor,
    s0: torch.Tensor,
    masks: torch.Tensor | None = None,
) -> torch.Tensor:
    """The same recurrence in plain autograd ops (slow; the specification the fast path is tested on)."""
    depth, hidden, _ = recurrent.shape
    s = s0
    outs = []
    for t in range(xw.shape[0]):
        for layer in range(depth):
            s_in = s * masks[layer] if masks is not None else s
            a = (xw[t] if layer == 0 else bias[layer]) + s_in @ recurrent[layer]
            h = torch.tanh(a[:, :hidden])
            g = torch.sigmoid(a[:, hidden:])
            s = h * g + s * (1 - g)
        outs.append(s)
    return torch.stack(outs)


class RHNNoteRNN(DeepTransitionNoteRNN):
    """Note RNN whose recurrence is a Recurrent Highway Network of depth ``config.depth``.

    Parameters: ``input_weight`` ``[V, 2H]`` (``[W_H | W_T]`` transposed, first micro-layer only),
    ``recurrent_weight`` ``[L, H, 2H]`` (``[R_H | R_T]`` transposed per micro-layer),
    ``bias`` ``[L, 2H]`` (``[b_H | b_T]``), and the linear ``output`` layer ``H -> V``.
    State: ``(s,)`` with ``s`` of shape ``[B, H]``.

    After each forward pass :meth:`gate_activity` gives the mean transform-gate value ``t_l`` of
    each micro-layer over the batch; :meth:`micro_layer_stats` gives it with the relative state
    change per micro-layer (the RHN paper's Figure: the first micro-layer transforms the state
    most, later ones refine it).
    """

    kind = "rhn"
    blocks = 2

    def __init__(self, config: NoteRNNConfig) -> None:
        super().__init__(config)
        self._gate_means: torch.Tensor | None = None

    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(H), 1/sqrt(H)) like torch's RNNs; transform-gate bias = ``transform_bias``."""
        super().reset_parameters()
        with torch.no_grad():
            self.bias[:, self.config.hidden_size :].fill_(self.config.transform_bias)

    def gate_activity(self) -> list[float] | None:
        """Mean transform-gate activation per micro-layer in the last forward pass (None before any)."""
        if self._gate_means is None:
            return None
        return [float(v) for v in self._gate_means]

    @torch.no_grad()
    def micro_layer_states(
        self, tokens: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if state is None:
            state = self.initial_state(tokens.shape[0], tokens.device)
        fast_input, fast_recurrent, fast_bias, _ = _fast_parameters(
            self.input_weight, self.recurrent_weight, self.bias
        )
        xw = F.embedding(tokens.t(), fast_input) + fast_bias[0]
        last, acts, _, inputs = _rhn_forward_loop(
            xw, fast_recurrent, fast_bias, state[0] + 1.0, None, keep_buffers=True
        )
        # inputs[l] is the u entering micro-layer l; last[1:] the u leaving the last one.
        states = torch.stack([*inputs, last[1:]]) - 1.0
        return states.transpose(1, 2), acts[..., self.config.hidden_size :].transpose(1, 2)

    @torch.no_grad()
    def transform_gates(self, tokens: torch.Tensor, state: State | None = None) -> torch.Tensor:
        """Transform-gate activations ``t_l`` of every micro-layer, ``[L, B, T, H]`` (no dropout;
        for analysis and plots)."""
        return self.micro_layer_states(tokens, state)[1]

    def _transition(
        self,
        tokens: torch.Tensor,
        s0: torch.Tensor,
        token_mask: torch.Tensor | None,
        state_masks: torch.Tensor | None,
    ) -> torch.Tensor:
        fast_input, fast_recurrent, fast_bias, scale = _fast_parameters(
            self.input_weight, self.recurrent_weight, self.bias
        )
        if state_masks is not None:
            # Dropout multiplies s = u - 1: (s m) R'' = (u m) R'' - m R'', a per-sequence bias.
            fast_bias = (self.bias * scale).unsqueeze(1) - torch.bmm(state_masks, fast_recurrent)
        # Only the first micro-layer sees the input: one gather gives W x + b for every step.
        xw = self._gather_inputs(tokens, fast_input, token_mask) + fast_bias[0]
        u0 = s0 + 1.0
        needs_grad = torch.is_grad_enabled() and any(
            t.requires_grad for t in (xw, fast_recurrent, fast_bias, u0)
        )
        if needs_grad:
            u = _RHNSequence.apply(xw, fast_recurrent, fast_bias, u0, state_masks)
            self._gate_means = u.grad_fn.gate_means
        else:
            with torch.no_grad():
                last, acts, _, _ = _rhn_forward_loop(
                    xw, fast_recurrent, fast_bias, u0, state_masks, keep_buffers=False
                )
            u = last[1:]
            self._gate_means = acts[..., self.config.hidden_size :].mean(dim=(1, 2, 3))
        return u - 1.0
