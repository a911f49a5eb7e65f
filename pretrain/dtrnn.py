"""Deep-transition RNN Note RNN: the RHN's recurrence without its highway gates.

The baseline of Zilly et al. (ICML 2017, Sec. 3 and Fig. 1): one recurrence step is ``L``
plain ``tanh`` micro-layers, the one-hot input ``x^{[t]}`` entering only the first::

    s_0 = s_L^{[t-1]},   s_l = tanh(W x^{[t]} [l = 1] + R_l s_{l-1} + b_l),   l = 1..L

and the logits are a linear layer on ``s_L^{[t]}``. Depth 1 is the plain (Elman) tanh RNN.
Parameters (see :mod:`pretrain.deep_transition`): ``input_weight`` ``[V, H]``,
``recurrent_weight`` ``[L, H, H]``, ``bias`` ``[L, H]``; dropout as the RHN's.

Speed: like the RHN, the whole sequence runs inside one :class:`torch.autograd.Function` with a
hand-written backward through time: two ops per micro-layer forward (``addmm``, ``tanh``), two
backward (``mul`` by the saved ``1 - s^2``, ``addmm``), and one matrix product per micro-layer for
its weight gradient at the end.
"""

from __future__ import annotations

import torch

from pretrain.deep_transition import DeepTransitionNoteRNN
from pretrain.note_rnn import State


def _dtrnn_forward_loop(
    xw: torch.Tensor,
    recurrent: torch.Tensor,
    bias: torch.Tensor,
    s0: torch.Tensor,
    masks: torch.Tensor | None,
    keep_buffers: bool,
) -> torch.Tensor:
    """Run the recurrence over ``T`` steps without autograd.

    :param xw: ``[T, B, H]``: ``W x + b_1`` of every step.
    :param recurrent: ``[L, H, H]``: ``R_l`` transposed (the state multiplies from the left).
    :param bias: ``[L, H]`` (row 0 unused: it is inside ``xw``).
    :param s0: ``[B, H]`` initial state.
    :param masks: ``[L, B, H]`` dropout masks on the state entering each micro-layer, or None.
    :returns: with ``keep_buffers`` every micro-layer's output ``[L, T, B, H]``; without, the
        last micro-layer's ``[1, T, B, H]``.
    """
    steps, batch, hidden = xw.shape
    depth = recurrent.shape[0]
    kept = depth if keep_buffers else 1
    out = xw.new_empty(kept, steps, batch, hidden)
    scratch = [xw.new_empty(batch, hidden) for _ in range(min(depth - 1, 2))]
    dropped = xw.new_empty(batch, hidden) if masks is not None else None
    s = s0
    for t in range(steps):
        for layer in range(depth):
            if layer == depth - 1:
                nxt = out[-1, t]
            elif keep_buffers:
                nxt = out[layer, t]
            else:
                nxt = scratch[layer % 2]
            s_in = s if masks is None else torch.mul(s, masks[layer], out=dropped)
            torch.addmm(xw[t] if layer == 0 else bias[layer], s_in, recurrent[layer], out=nxt)
            torch.tanh(nxt, out=nxt)
            s = nxt
    return out


def _layer_inputs(states: torch.Tensor, s0: torch.Tensor) -> torch.Tensor:
    """``[L, T, B, H]``: the state entering each micro-layer (layer 1: the previous step's s_L)."""
    previous = torch.cat([s0[None], states[-1, :-1]])
    return torch.cat([previous[None], states[:-1]])


class _DTRNNSequence(torch.autograd.Function):
    """The DT-RNN recurrence over a whole sequence with a hand-written backward through time."""

    @staticmethod
    def forward(ctx, xw, recurrent, bias, s0, masks):  # noqa: D102
        states = _dtrnn_forward_loop(xw, recurrent, bias, s0, masks, keep_buffers=True)
        derivative = torch.addcmul(torch.ones_like(states), states, states, value=-1.0)
        ctx.save_for_backward(
            recurrent, s0, states, derivative, masks if masks is not None else torch.empty(0)
        )
        ctx.has_masks = masks is not None
        return states[-1].clone()

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        recurrent, s0, states, derivative, masks = ctx.saved_tensors
        depth, hidden, _ = recurrent.shape
        steps, batch, _ = grad_out.shape
        recurrent_t = recurrent.transpose(1, 2)
        grad_pre = torch.empty_like(derivative)  # dL/d(pre-activation), [L, T, B, H]
        grad_out = grad_out.contiguous()
        delta = grad_out[steps - 1].clone()
        tmp = grad_out.new_empty(batch, hidden)
        for t in range(steps - 1, -1, -1):
            for layer in range(depth - 1, -1, -1):
                da = torch.mul(delta, derivative[layer, t], out=grad_pre[layer, t])
                carried = grad_out[t - 1] if layer == 0 and t > 0 else None
                if ctx.has_masks:
                    torch.mm(da, recurrent_t[layer], out=tmp)
                    delta = tmp * masks[layer]
                    if carried is not None:
                        delta += carried
                elif carried is not None:
                    delta = torch.addmm(carried, da, recurrent_t[layer])
                else:
                    delta = da @ recurrent_t[layer]
        inputs = _layer_inputs(states, s0)
        if ctx.has_masks:
            inputs = inputs * masks[:, None]
        grad_recurrent = torch.bmm(
            inputs.reshape(depth, steps * batch, hidden).transpose(1, 2),
            grad_pre.reshape(depth, steps * batch, hidden),
        )
        grad_bias = grad_pre.sum(dim=(1, 2))
        grad_bias[0] = 0  # the first micro-layer's bias reaches the loss through xw
        return grad_pre[0], grad_recurrent, grad_bias, delta, None


def dtrnn_reference(
    xw: torch.Tensor,
    recurrent: torch.Tensor,
    bias: torch.Tensor,
    s0: torch.Tensor,
    masks: torch.Tensor | None = None,
) -> torch.Tensor:
    """The same recurrence in plain autograd ops (slow; the specification the fast path is tested on)."""
    s = s0
    outs = []
    for t in range(xw.shape[0]):
        for layer in range(recurrent.shape[0]):
            s_in = s * masks[layer] if masks is not None else s
            s = torch.tanh((xw[t] if layer == 0 else bias[layer]) + s_in @ recurrent[layer])
        outs.append(s)
    return torch.stack(outs)


class DTRNNNoteRNN(DeepTransitionNoteRNN):
    """Note RNN whose recurrence is a deep-transition RNN of depth ``config.depth`` (no gates).

    Parameters: ``input_weight`` ``[V, H]`` (``W`` transposed, first micro-layer only),
    ``recurrent_weight`` ``[L, H, H]`` (``R_l`` transposed), ``bias`` ``[L, H]``, and the linear
    ``output`` layer ``H -> V``. State: ``(s,)`` with ``s`` of shape ``[B, H]``.
    """

    kind = "dtrnn"
    blocks = 1

    @torch.no_grad()
    def micro_layer_states(
        self, tokens: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, None]:
        if state is None:
            state = self.initial_state(tokens.shape[0], tokens.device)
        xw = self._gather_inputs(tokens, self.input_weight, None) + self.bias[0]
        states = _dtrnn_forward_loop(
            xw, self.recurrent_weight, self.bias, state[0], None, keep_buffers=True
        )
        every = torch.cat([_layer_inputs(states, state[0])[:1], states])
        return every.transpose(1, 2), None

    def _transition(
        self,
        tokens: torch.Tensor,
        s0: torch.Tensor,
        token_mask: torch.Tensor | None,
        state_masks: torch.Tensor | None,
    ) -> torch.Tensor:
        # Only the first micro-layer sees the input: one gather gives W x + b for every step.
        xw = self._gather_inputs(tokens, self.input_weight, token_mask) + self.bias[0]
        needs_grad = torch.is_grad_enabled() and any(
            t.requires_grad for t in (xw, self.recurrent_weight, self.bias, s0)
        )
        if needs_grad:
            return _DTRNNSequence.apply(xw, self.recurrent_weight, self.bias, s0, state_masks)
        with torch.no_grad():
            return _dtrnn_forward_loop(
                xw, self.recurrent_weight, self.bias, s0, state_masks, keep_buffers=False
            )[-1]
