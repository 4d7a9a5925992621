defmodule Linx.Capabilities.State do
  @moduledoc """
  The five capability sets of a process, as `Linx.Capabilities.read/1` returns them
  (see capabilities(7)): each a `MapSet` of capability atoms.

    * `:effective`: what the kernel checks now;
    * `:permitted`: the limit on effective (and on what capset(2) can raise);
    * `:inheritable`: kept across `execve` (for programs with matching file capabilities);
    * `:bounding`: the limit on what any later `execve` can grant;
    * `:ambient`: kept across `execve` of ordinary programs (a subset of permitted and
      inheritable).

  Inspect shows the sizes: `#Linx.Capabilities.State<eff=41 prm=41 inh=0 bnd=41 amb=0>`.
  """

  @enforce_keys [:effective, :permitted, :inheritable, :bounding, :ambient]
  defstruct @enforce_keys

  @type t :: %__MODULE__{
          effective: MapSet.t(atom()),
          permitted: MapSet.t(atom()),
          inheritable: MapSet.t(atom()),
          bounding: MapSet.t(atom()),
          ambient: MapSet.t(atom())
        }

  defimpl Inspect do
    def inspect(s, _opts) do
      "#Linx.Capabilities.State<eff=#{MapSet.size(s.effective)} " <>
        "prm=#{MapSet.size(s.permitted)} inh=#{MapSet.size(s.inheritable)} " <>
        "bnd=#{MapSet.size(s.bounding)} amb=#{MapSet.size(s.ambient)}>"
    end
  end
end
