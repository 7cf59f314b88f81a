"""Optimizers with PyTorch's update rules over NumPy parameters: :class:`SGD` and :class:`Adam`.

A parameter is any object with two attributes: ``data``, a floating ndarray that
:meth:`~Optimizer.step` updates IN PLACE (so layers holding the array see the change), and
``grad``, an array of the same shape filled by a backward pass, or None to skip the parameter.
There are no parameter groups; the learning rate is the settable attribute ``lr``, for
schedules.  The state (momentum buffers, Adam's moments and step counts) is a flat dict of
arrays and numbers that ``np.savez`` can store.

Examples
--------
>>> import numpy as np

from ._validate import flag
>>> from gcnn import optim
>>> class Param:
...     def __init__(self, data):
...         self.data, self.grad = data, None
>>> w = Param(np.array([1.0, -2.0]))
>>> opt = optim.SGD([w], lr=0.1, momentum=0.9)
>>> for _ in range(3):
...     opt.zero_grad()
...     w.grad = 2 * w.data  # the gradient of sum(w**2)
...     opt.step()
>>> w.data.round(4)
array([ 0.062, -0.124])
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ._validate import flag

__all__ = ["SGD", "Adam", "Optimizer"]

_STATE_KEY = re.compile(r"state\.(\d+)\.([a-z_]+)\Z")


# --------------------------------------------------------------------------- argument checks


def _number(value, name: str) -> float:
    """A real, finite scalar (a Python number, NumPy scalar or 0-d array) as a float."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    array = np.asarray(value) if isinstance(value, np.ndarray) else None
    if array is not None:
        if array.ndim != 0 or array.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be a real number, got an array of shape {array.shape}")
        value = array.item()
    if not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {number}")
    return number


def _nonnegative(value, name: str) -> float:
    number = _number(value, name)
    if number < 0:
        raise ValueError(f"{name} must be nonnegative, got {number}")
    return number


def _betas(value) -> tuple[float, float]:
    try:
        items = tuple(np.asarray(value).tolist()) if isinstance(value, np.ndarray) else tuple(value)
    except TypeError:
        raise TypeError(f"betas must be a pair of numbers, got {value!r}") from None
    if len(items) != 2:
        raise ValueError(f"betas must be a pair of numbers, got {value!r}")
    pair = (_number(items[0], "betas[0]"), _number(items[1], "betas[1]"))
    for index, beta in enumerate(pair):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"betas[{index}] must be in [0, 1), got {beta}")
    return pair


def _parameter_list(params) -> list:
    if isinstance(params, np.ndarray) or (hasattr(params, "data") and hasattr(params, "grad")):
        raise TypeError(
            "params must be an iterable of parameters (objects with .data and .grad), got a "
            f"single {type(params).__name__}; wrap it in a list"
        )
    try:
        items = list(params)
    except TypeError:
        raise TypeError(
            "params must be an iterable of parameters (objects with .data and .grad), got "
            f"{type(params).__name__}"
        ) from None
    if not items:
        raise ValueError("optimizer got an empty parameter list")
    seen: dict[int, int] = {}
    for index, param in enumerate(items):
        data = getattr(param, "data", None)
        if not isinstance(data, np.ndarray) or not hasattr(param, "grad"):
            raise TypeError(
                f"params[{index}] must have a .data ndarray and a .grad attribute, got "
                f"{type(param).__name__}"
            )
        if data.dtype.kind != "f":
            raise TypeError(
                f"params[{index}].data must have a floating dtype (it is updated in place), "
                f"got {data.dtype}"
            )
        if not data.flags.writeable:
            raise ValueError(f"params[{index}].data is read-only; step() updates it in place")
        if id(param) in seen:
            raise ValueError(
                f"params[{index}] is the same parameter as params[{seen[id(param)]}]; list each "
                "parameter once (it would be updated twice per step)"
            )
        seen[id(param)] = index
    return items


def _state_number(value, key: str):
    """A number from a state dict: a Python or NumPy scalar, or a 0-d array from np.load."""
    if isinstance(value, np.ndarray):
        if value.ndim != 0:
            raise ValueError(f"state dict entry {key!r} must be a scalar, got shape {value.shape}")
        value = value.item()
    return value


# --------------------------------------------------------------------------- base class


class Optimizer:
    """Base class of the optimizers: parameters, ``lr``, ``zero_grad`` and the state dict.

    Subclasses define ``step`` and name their hyperparameters and per-parameter state.  Not
    meant to be instantiated itself.
    """

    # Per-parameter state: arrays shaped like the parameter, and scalars (Adam's step count).
    _state_arrays: tuple[str, ...] = ()
    _state_scalars: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Any], lr: float) -> None:
        self._params = _parameter_list(params)
        self.lr = lr
        self._state: list[dict[str, Any]] = [{} for _ in self._params]

    # ----------------------------------------------------------------- public attributes

    @property
    def params(self) -> tuple:
        """The parameters, in the order given (their indices key the state dict)."""
        return tuple(self._params)

    @property
    def lr(self) -> float:
        """The learning rate; set it between steps for a schedule."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _nonnegative(value, "lr")

    def __repr__(self) -> str:
        settings = ", ".join(f"{name}={value!r}" for name, value in self._hyperparameters().items())
        return f"{type(self).__name__}({len(self._params)} parameters, {settings})"

    # ----------------------------------------------------------------- gradients

    def zero_grad(self) -> None:
        """Fill every parameter's ``.grad`` with zeros in place (a None ``.grad`` stays None)."""
        for index, param in enumerate(self._params):
            grad = param.grad
            if grad is None:
                continue
            if not isinstance(grad, np.ndarray):
                raise TypeError(
                    f"params[{index}].grad must be an ndarray or None to be zeroed in place, got "
                    f"{type(grad).__name__}"
                )
            grad.fill(0)

    def _gradients(self):
        """(index, data, grad, state) for each parameter with a gradient, grad in data's dtype."""
        for index, param in enumerate(self._params):
            grad = param.grad
            if grad is None:
                continue
            data = param.data
            grad = np.asarray(grad)
            if grad.dtype.kind not in "biuf":
                raise TypeError(
                    f"params[{index}].grad must be real, got dtype {grad.dtype}"
                    + (" (complex)" if grad.dtype.kind == "c" else "")
                )
            if grad.shape != data.shape:
                raise ValueError(
                    f"params[{index}].grad has shape {grad.shape} but .data has shape {data.shape}"
                )
            yield index, data, grad.astype(data.dtype, copy=False), self._state[index]

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        raise NotImplementedError

    # ----------------------------------------------------------------- state dict

    def _hyperparameters(self) -> dict[str, Any]:
        return {"lr": self._lr}

    def _set_hyperparameters(self, values: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's hyperparameters and state as a flat dict of numbers and arrays.

        Returns
        -------
        dict
            ``"num_params"``, the hyperparameters by name (``"lr"``, ...), and for each
            parameter ``i`` that has state, ``"state.<i>.<name>"`` (e.g.
            ``"state.0.momentum_buffer"``, ``"state.3.exp_avg"``, ``"state.3.step"``).  Arrays
            are copies.  ``np.savez(file, **opt.state_dict())`` stores it and
            ``opt.load_state_dict(np.load(file))`` restores it.
        """
        result: dict[str, Any] = {"num_params": len(self._params)}
        result.update(self._hyperparameters())
        for index, state in enumerate(self._state):
            for name, value in state.items():
                stored = value.copy() if isinstance(value, np.ndarray) else value
                result[f"state.{index}.{name}"] = stored
        return result

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyperparameters and state saved by :meth:`state_dict` (also via ``np.load``).

        The optimizer must hold the same number of parameters with the same shapes.  Arrays
        are copied into the parameters' dtypes.  Nothing changes unless the whole dict is valid.

        Raises
        ------
        TypeError
            If `state_dict` is not a mapping, or an entry has the wrong type.
        ValueError
            If keys are missing or unexpected, the parameter count or a shape differs, or a
            value is out of range.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping, got {type(state_dict).__name__}")
        entries = {key: state_dict[key] for key in state_dict}
        if "num_params" not in entries:
            raise ValueError("state dict is missing 'num_params'")
        count = _state_number(entries.pop("num_params"), "num_params")
        if count != len(self._params):
            raise ValueError(
                f"state dict is for {count} parameters, this optimizer has {len(self._params)}"
            )
        names = list(self._hyperparameters())
        missing = [name for name in names if name not in entries]
        if missing:
            raise ValueError(
                f"state dict is missing {', '.join(map(repr, missing))} (is it from another "
                f"optimizer than {type(self).__name__}?)"
            )
        hyperparameters = {name: entries.pop(name) for name in names}

        states: list[dict[str, Any]] = [{} for _ in self._params]
        for key, value in entries.items():
            match = _STATE_KEY.match(key) if isinstance(key, str) else None
            known = self._state_arrays + self._state_scalars
            if match is None or match.group(2) not in known or int(match.group(1)) >= count:
                raise ValueError(
                    f"state dict has an unexpected entry {key!r} for {type(self).__name__}"
                )
            index, name = int(match.group(1)), match.group(2)
            data = self._params[index].data
            if name in self._state_scalars:
                number = _state_number(value, key)
                if isinstance(number, (bool, np.bool_)) or not isinstance(
                    number, (int, np.integer)
                ):
                    raise TypeError(f"state dict entry {key!r} must be an integer, got {number!r}")
                if number < 1:
                    raise ValueError(f"state dict entry {key!r} must be positive, got {number}")
                states[index][name] = int(number)
                continue
            array = np.asarray(value)
            if array.dtype.kind not in "biuf":
                raise TypeError(
                    f"state dict entry {key!r} must be a real array, got dtype {array.dtype}"
                )
            if array.shape != data.shape:
                raise ValueError(
                    f"state dict entry {key!r} has shape {array.shape} but params[{index}] has "
                    f"shape {data.shape}"
                )
            states[index][name] = np.array(array, dtype=data.dtype, copy=True)

        previous = self._hyperparameters()
        self._set_hyperparameters(hyperparameters)
        try:
            for index, state in enumerate(states):
                self._check_state(index, state)
        except (TypeError, ValueError):
            self._set_hyperparameters(previous)
            raise
        self._state = states

    def _check_state(self, index: int, state: dict[str, Any]) -> None:
        """Raise ValueError if one parameter's loaded state is incomplete for the settings."""


# --------------------------------------------------------------------------- SGD


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, as ``torch.optim.SGD``.

    Parameters
    ----------
    params : iterable of parameters
        Objects with ``.data`` (a floating ndarray, updated in place) and ``.grad`` (an array
        of the same shape, or None to skip the parameter).
    lr : float
        Learning rate, nonnegative.
    momentum : float, optional
        Momentum factor, nonnegative; 0 (default) is plain SGD.
    dampening : float, optional
        Dampening of the gradient's contribution to the momentum buffer.
    weight_decay : float, optional
        L2 penalty, nonnegative: ``weight_decay * data`` is added to the gradient.
    nesterov : bool, optional
        Nesterov momentum; needs ``momentum > 0`` and ``dampening == 0``.

    Raises
    ------
    TypeError
        If `params` is not an iterable of parameters with floating ``.data``, or a
        hyperparameter has the wrong type.
    ValueError
        If `params` is empty or repeats a parameter, ``.data`` is read-only, `lr`, `momentum`
        or `weight_decay` is negative, a number is not finite, or `nesterov` is set without
        momentum or with dampening.

    Notes
    -----
    For each parameter with gradient ``g`` (PyTorch's update rule, step by step)::

        g = g + weight_decay * data                          if weight_decay != 0
        buf = g  (first step),  buf = momentum * buf + (1 - dampening) * g  (later)
        g = g + momentum * buf  if nesterov,  else  g = buf   if momentum != 0
        data -= lr * g

    All arithmetic is in the parameter's dtype, and so is the momentum buffer.

    Examples
    --------
    >>> import numpy as np
    >>> from gcnn import optim
    >>> class Param:
    ...     def __init__(self, data):
    ...         self.data, self.grad = data, None
    >>> p = Param(np.array([1.0, 2.0], dtype=np.float32))
    >>> opt = optim.SGD([p], lr=0.5)
    >>> p.grad = np.array([1.0, -1.0], dtype=np.float32)
    >>> opt.step()
    >>> p.data
    array([0.5, 2.5], dtype=float32)
    >>> opt.lr = 0.1  # a schedule changes the learning rate between steps
    >>> opt
    SGD(1 parameters, lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False)
    """

    _state_arrays = ("momentum_buffer",)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self._set_hyperparameters(
            {
                "momentum": momentum,
                "dampening": dampening,
                "weight_decay": weight_decay,
                "nesterov": nesterov,
            }
        )

    @property
    def momentum(self) -> float:
        return self._momentum

    @property
    def dampening(self) -> float:
        return self._dampening

    @property
    def weight_decay(self) -> float:
        return self._weight_decay

    @property
    def nesterov(self) -> bool:
        return self._nesterov

    def _hyperparameters(self) -> dict[str, Any]:
        return {
            "lr": self._lr,
            "momentum": self._momentum,
            "dampening": self._dampening,
            "weight_decay": self._weight_decay,
            "nesterov": self._nesterov,
        }

    def _set_hyperparameters(self, values: Mapping[str, Any]) -> None:
        lr = _nonnegative(values.get("lr", self._lr), "lr")
        momentum = _nonnegative(values["momentum"], "momentum")
        dampening = _number(values["dampening"], "dampening")
        weight_decay = _nonnegative(values["weight_decay"], "weight_decay")
        nesterov = flag(values["nesterov"], "nesterov")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                "nesterov=True requires momentum > 0 and dampening == 0, got "
                f"momentum={momentum} and dampening={dampening}"
            )
        self._lr, self._momentum, self._dampening = lr, momentum, dampening
        self._weight_decay, self._nesterov = weight_decay, nesterov

    def step(self) -> None:
        """Update every parameter that has a gradient, in place (see Notes of the class)."""
        lr, momentum = self._lr, self._momentum
        for _, data, grad, state in self._gradients():
            if self._weight_decay != 0:
                grad = grad + self._weight_decay * data
            if momentum != 0:
                buffer = state.get("momentum_buffer")
                if buffer is None:
                    buffer = state["momentum_buffer"] = grad.copy()
                else:
                    buffer *= momentum
                    buffer += (1 - self._dampening) * grad
                grad = grad + momentum * buffer if self._nesterov else buffer
            data -= lr * grad


# --------------------------------------------------------------------------- Adam


class Adam(Optimizer):
    """Adam (Kingma and Ba), optionally AMSGrad, as ``torch.optim.Adam``.

    Parameters
    ----------
    params : iterable of parameters
        Objects with ``.data`` (a floating ndarray, updated in place) and ``.grad`` (an array
        of the same shape, or None to skip the parameter).
    lr : float, optional
        Learning rate, nonnegative.
    betas : pair of float, optional
        Decay rates of the running averages of the gradient and its square, each in [0, 1).
    eps : float, optional
        Added to the denominator for numerical stability, nonnegative.
    weight_decay : float, optional
        L2 penalty added to the gradient (``weight_decay * data``), nonnegative.  This is
        Adam's L2 regularisation, not AdamW's decoupled weight decay.
    amsgrad : bool, optional
        Normalise by the running maximum of the second moment (AMSGrad).

    Raises
    ------
    TypeError
        If `params` is not an iterable of parameters with floating ``.data``, or a
        hyperparameter has the wrong type.
    ValueError
        If `params` is empty or repeats a parameter, ``.data`` is read-only, `lr`, `eps` or
        `weight_decay` is negative, a beta is outside [0, 1), or a number is not finite.

    Notes
    -----
    Each parameter counts its own steps ``t`` (a parameter skipped for lack of a gradient does
    not advance).  With gradient ``g`` (PyTorch's single-tensor implementation)::

        g = g + weight_decay * data                          if weight_decay != 0
        m = m + (1 - beta1) * (g - m)                        first moment
        v = beta2 * v + (1 - beta2) * g * g                  second moment
        v_max = maximum(v_max, v)                            if amsgrad (then v_max below)
        denom = sqrt(v) / sqrt(1 - beta2**t) + eps
        data -= lr / (1 - beta1**t) * m / denom

    All arithmetic is in the parameter's dtype, and so are ``m``, ``v`` and ``v_max``.

    Examples
    --------
    >>> import numpy as np
    >>> from gcnn import optim
    >>> class Param:
    ...     def __init__(self, data):
    ...         self.data, self.grad = data, None
    >>> p = Param(np.zeros(3))
    >>> opt = optim.Adam([p], lr=0.01)
    >>> p.grad = np.array([3.0, -0.5, 0.0])
    >>> opt.step()  # the first step moves each element by about lr against its gradient
    >>> p.data.round(6)
    array([-0.01,  0.01,  0.  ])
    >>> sorted(key for key in opt.state_dict() if key.startswith("state."))
    ['state.0.exp_avg', 'state.0.exp_avg_sq', 'state.0.step']
    """

    _state_arrays = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _state_scalars = ("step",)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self._set_hyperparameters(
            {"betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad}
        )

    @property
    def betas(self) -> tuple[float, float]:
        return self._betas

    @property
    def eps(self) -> float:
        return self._eps

    @property
    def weight_decay(self) -> float:
        return self._weight_decay

    @property
    def amsgrad(self) -> bool:
        return self._amsgrad

    def _hyperparameters(self) -> dict[str, Any]:
        return {
            "lr": self._lr,
            "betas": self._betas,
            "eps": self._eps,
            "weight_decay": self._weight_decay,
            "amsgrad": self._amsgrad,
        }

    def _set_hyperparameters(self, values: Mapping[str, Any]) -> None:
        lr = _nonnegative(values.get("lr", self._lr), "lr")
        betas = _betas(values["betas"])
        eps = _nonnegative(values["eps"], "eps")
        weight_decay = _nonnegative(values["weight_decay"], "weight_decay")
        amsgrad = flag(values["amsgrad"], "amsgrad")
        self._lr, self._betas, self._eps = lr, betas, eps
        self._weight_decay, self._amsgrad = weight_decay, amsgrad

    def _check_state(self, index: int, state: dict[str, Any]) -> None:
        if not state:
            return
        needed = {"step", "exp_avg", "exp_avg_sq"} | (
            {"max_exp_avg_sq"} if self._amsgrad else set()
        )
        if set(state) != needed:
            raise ValueError(
                f"state dict has {sorted(state)} for parameter {index}, Adam with "
                f"amsgrad={self._amsgrad} needs {sorted(needed)}"
            )

    def step(self) -> None:
        """Update every parameter that has a gradient, in place (see Notes of the class)."""
        lr, (beta1, beta2), eps = self._lr, self._betas, self._eps
        for _, data, grad, state in self._gradients():
            if not state:
                state["step"] = 0
                state["exp_avg"] = np.zeros_like(data)
                state["exp_avg_sq"] = np.zeros_like(data)
                if self._amsgrad:
                    state["max_exp_avg_sq"] = np.zeros_like(data)
            state["step"] += 1
            step = state["step"]
            if self._weight_decay != 0:
                grad = grad + self._weight_decay * data

            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            # torch's lerp_(grad, w), with its two formulas for small and large weights.
            weight = 1 - beta1
            if abs(weight) < 0.5:
                exp_avg += weight * (grad - exp_avg)
            else:
                exp_avg[...] = grad - (grad - exp_avg) * (1 - weight)
            exp_avg_sq *= beta2
            exp_avg_sq += (1 - beta2) * grad * grad

            bias_correction1 = 1 - beta1**step
            bias_correction2 = 1 - beta2**step
            step_size = lr / bias_correction1
            bias_correction2_sqrt = bias_correction2**0.5
            if self._amsgrad:
                np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
                second_moment = state["max_exp_avg_sq"]
            else:
                second_moment = exp_avg_sq
            denom = np.sqrt(second_moment) / bias_correction2_sqrt + eps
            data += (-step_size * exp_avg) / denom
