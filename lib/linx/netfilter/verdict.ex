defmodule Linx.Netfilter.Verdict do
  @moduledoc """
  What a rule decides: `:accept`, `:drop`, `:continue`, `:return`, `{:jump, chain}`,
  `{:goto, chain}` or `{:queue, number}`.

      iex> Linx.Netfilter.Verdict.jump("tcp_in")
      %Linx.Netfilter.Verdict{kind: :jump, target: "tcp_in"}
      iex> Linx.Netfilter.Verdict.new({:queue, 3})
      {:ok, %Linx.Netfilter.Verdict{kind: :queue, target: 3}}
      iex> Linx.Netfilter.Verdict.new(:bogus)
      {:error, {:bad_verdict, :bogus}}

  On the wire (nf_tables.h, netfilter.h) a verdict is NFTA_DATA_VERDICT with a code:
  drop 0, accept 1, continue −1, jump −3, goto −4, return −5, plus the chain name for
  jump and goto. A queue verdict becomes nft's `queue num N` expression, so its number
  reaches the kernel (0.2 sent a bare NF_QUEUE and lost it); a queue verdict with number
  0 is the plain NF_QUEUE code, which every kernel accepts.
  """

  @enforce_keys [:kind]
  defstruct [:kind, :target]

  @type kind :: :accept | :drop | :continue | :return | :jump | :goto | :queue
  @type t :: %__MODULE__{kind: kind(), target: String.t() | 0..65535 | nil}

  @typedoc "What `new/1` accepts."
  @type input ::
          :accept
          | :drop
          | :continue
          | :return
          | :queue
          | {:jump | :goto, String.t()}
          | {:queue, 0..65535}
          | t()

  @doc "The accept verdict."
  @spec accept() :: t()
  def accept, do: %__MODULE__{kind: :accept}

  @doc "The drop verdict."
  @spec drop() :: t()
  def drop, do: %__MODULE__{kind: :drop}

  @doc "Continue with the next rule."
  @spec continue() :: t()
  def continue, do: %__MODULE__{kind: :continue}

  @doc "Return to the calling chain."
  @spec return() :: t()
  def return, do: %__MODULE__{kind: :return}

  @doc "Jump to `chain` (and come back)."
  @spec jump(String.t()) :: t()
  def jump(chain), do: new!({:jump, chain})

  @doc "Go to `chain` (no return)."
  @spec goto(String.t()) :: t()
  def goto(chain), do: new!({:goto, chain})

  @doc "Queue the packet to userspace queue `number` (0..65535)."
  @spec queue(0..65535) :: t()
  def queue(number \\ 0), do: new!({:queue, number})

  @doc "Builds a verdict from an atom, a `{kind, target}` pair or a verdict struct."
  @spec new(term()) :: {:ok, t()} | {:error, {:bad_verdict, term()}}
  def new(kind) when kind in [:accept, :drop, :continue, :return],
    do: {:ok, %__MODULE__{kind: kind}}

  def new(:queue), do: {:ok, %__MODULE__{kind: :queue, target: 0}}

  def new({kind, chain} = v) when kind in [:jump, :goto] do
    if valid_chain?(chain),
      do: {:ok, %__MODULE__{kind: kind, target: chain}},
      else: {:error, {:bad_verdict, v}}
  end

  def new({:queue, n}) when is_integer(n) and n in 0..65535,
    do: {:ok, %__MODULE__{kind: :queue, target: n}}

  def new(%__MODULE__{} = v) do
    if valid?(v), do: {:ok, v}, else: {:error, {:bad_verdict, v}}
  end

  def new(other), do: {:error, {:bad_verdict, other}}

  @doc "Like `new/1`; raises `ArgumentError` on a bad verdict."
  @spec new!(term()) :: t()
  def new!(input) do
    case new(input) do
      {:ok, v} -> v
      {:error, reason} -> raise ArgumentError, "invalid verdict: #{inspect(reason)}"
    end
  end

  @doc "True for a well-formed verdict struct."
  @spec valid?(term()) :: boolean()
  def valid?(%__MODULE__{kind: k, target: nil}) when k in [:accept, :drop, :continue, :return],
    do: true

  def valid?(%__MODULE__{kind: k, target: c}) when k in [:jump, :goto], do: valid_chain?(c)
  def valid?(%__MODULE__{kind: :queue, target: n}) when is_integer(n) and n in 0..65535, do: true
  def valid?(_), do: false

  defp valid_chain?(c), do: is_binary(c) and c != "" and byte_size(c) < 256

  @doc false
  # The NIF term of a verdict (see Linx.Netfilter.Native).
  @spec to_term(t()) :: map()
  def to_term(%__MODULE__{kind: k, target: c}) when k in [:jump, :goto],
    do: %{verdict: k, chain: c}

  def to_term(%__MODULE__{kind: :queue}), do: %{verdict: :queue}
  def to_term(%__MODULE__{kind: k}), do: %{verdict: k}

  @doc false
  @spec from_term(map()) :: t() | nil
  def from_term(%{verdict: k} = m) when k in [:jump, :goto],
    do: %__MODULE__{kind: k, target: Map.get(m, :chain)}

  def from_term(%{verdict: :queue}), do: %__MODULE__{kind: :queue, target: 0}

  def from_term(%{verdict: k}) when k in [:accept, :drop, :continue, :return],
    do: %__MODULE__{kind: k}

  def from_term(_), do: nil
end
