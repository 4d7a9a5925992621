defmodule Linx.Netfilter.Vmap do
  @moduledoc """
  Verdict maps: a constructor for `%Linx.Netfilter.Map{data_type: :verdict}` (there is
  no `%Vmap{}` struct).

      {:ok, vm} = Linx.Netfilter.Vmap.new("dispatch", key_type: :inet_service,
                                           elements: [{22, {:jump, "ssh"}}, {80, :accept}])

  A rule dispatches through it with `Expr.lookup("dispatch", dreg: 0)`.
  """

  alias Linx.Netfilter.Map, as: NMap

  @doc "Builds a verdict map (`data_type` is forced to `:verdict`)."
  @spec new(String.t(), keyword()) :: {:ok, NMap.t()} | {:error, {:bad_map, term()}}
  def new(name, opts) when is_list(opts),
    do: NMap.new(name, Keyword.put(opts, :data_type, :verdict))

  @doc "Like `new/2`; raises `ArgumentError`."
  @spec new!(String.t(), keyword()) :: NMap.t()
  def new!(name, opts), do: NMap.new!(name, Keyword.put(opts, :data_type, :verdict))
end
