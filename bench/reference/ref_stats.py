"""Per-linear input statistics with the official running updates (float32 buffers), one call per
calibration sample (each sample is a batch of one sequence, as in the official loops).

The update formulas and their operation order follow the official layer wrappers
(Wanda lib/layerwrapper.py WrappedGPT; FLAP lib/layerwrapper.py BiasGPT), because the order of
float32 roundings decides near-ties:

  Wanda scaler_row (= FLAP scaler_inp, WIFN):
      scaler *= n / (n + 1);  n += 1;  scaler += ||x_j||_2^2 / n      (norm over the sample's tokens)
  FLAP baseline_inp (the channel mean):
      mean *= n / (n + 1);  mean += mean_t(x_tj) / (n + 1)
  FLAP fluc_inp (IFV / WIFV):
      first sample: fluc = 0 (that sample's spread is dropped);
      later:        fluc *= (n - 1) / n;  fluc += sum_t (x_tj - mean_j)^2 / (n + 1)
      where mean is the *updated* mean in both factors: the official code keeps the "old"
      mean as a reference to the same tensor it then updates in place.
n = samples seen before this one. A Python float factor times a float32 tensor is computed
in float32 (the scalar is cast to the tensor's dtype), as here.
"""
import torch


def _columns(inp):
    """[tokens, channels] of a hook input [1, T, C] -> [C, T] as the wrappers transpose it."""
    return inp.reshape(-1, inp.shape[-1]).t()


class WandaStats:
    def __init__(self, columns):
        self.scaler_row = torch.zeros(columns, dtype=torch.float32)
        self.nsamples = 0

    def add_batch(self, inp):
        x = _columns(inp)
        self.scaler_row *= self.nsamples / (self.nsamples + 1)
        self.nsamples += 1
        x = x.type(torch.float32)
        self.scaler_row += torch.norm(x, p=2, dim=1) ** 2 / self.nsamples


class FlapStats:
    def __init__(self, columns, metric):
        self.metric = metric
        self.nsamples = 0
        self.baseline_inp = torch.zeros(columns, dtype=torch.float32)
        if metric == "WIFN":
            self.scaler_inp = torch.zeros(columns, dtype=torch.float32)
        else:
            self.fluc_inp = torch.zeros(columns, dtype=torch.float32)

    def add_batch(self, inp):
        x = _columns(inp)
        n = self.nsamples
        self.baseline_inp *= n / (n + 1)
        self.baseline_inp += torch.mean(x, dim=1) / (n + 1)
        if self.metric == "WIFN":
            x = x.type(torch.float32)
            self.scaler_inp *= n / (n + 1)
            self.scaler_inp += torch.norm(x, p=2, dim=1) ** 2 / (n + 1)
        elif n == 0:
            # Official: the attribute becomes the Python int 0; the next update multiplies it
            # by 0.0 and adds a tensor, so the first sample contributes nothing.
            self.fluc_inp = 0
        else:
            dev = x - self.baseline_inp.unsqueeze(1)
            self.fluc_inp *= (n - 1) / n
            self.fluc_inp += torch.sum(dev * dev, dim=1) / (n + 1)
        self.nsamples += 1


def hook_stats(modules, make):
    """Registers forward hooks that feed each module's input to a fresh statistics object.
    Returns ({name: stats}, remove())."""
    stats = {name: make(mod) for name, mod in modules.items()}
    handles = [mod.register_forward_hook(_feeder(stats[name])) for name, mod in modules.items()]

    def remove():
        for h in handles:
            h.remove()

    return stats, remove


def _feeder(st):
    def hook(_module, inp, _out):
        st.add_batch(inp[0].data)

    return hook
