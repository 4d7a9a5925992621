defmodule Linx.Netfilter.Rule do
  @moduledoc """
  A rule: a list of expressions evaluated in order, usually ending in a verdict.

      alias Linx.Netfilter.{Expr, Rule}
      {:ok, rule} = Rule.build([Expr.payload(:tcp_dport), Expr.cmp(:eq, <<22::16>>), :accept], tag: :ssh)

  `build/2` flattens one level of nested lists (so helpers returning lists, such as
  `Expr.dnat_to/3` or `Expr.match/3`, splice in) and turns verdict sugar (`:accept`,
  `{:jump, "chain"}`, a `%Verdict{}`) into an immediate — except a queue verdict,
  which becomes nft's queue expression so that its number is kept.

  The `:tag` (an atom) is the rule's identity across pushes: `push(mode: :reconcile)`
  matches rules by tag. Tag and `:comment` travel in the rule's userdata (libnftnl's
  TLV format: comment is type 0, as `nft` shows it; the tag is type 16). A pulled tag
  becomes an atom only if that atom already exists in the VM (kernel input never mints
  atoms); otherwise it stays a string.
  """

  alias Linx.Netfilter.{Expr, Verdict}

  @enforce_keys [:expressions]
  defstruct expressions: [], chain: nil, handle: nil, tag: nil, comment: nil

  @type t :: %__MODULE__{
          expressions: [Expr.t()],
          chain: String.t() | nil,
          handle: non_neg_integer() | nil,
          tag: atom() | String.t() | nil,
          comment: String.t() | nil
        }

  @type reason ::
          {:bad_rule,
           {:not_an_expression, term()}
           | {:tag_not_atom, term()}
           | {:bad_comment, term()}
           | {:bad_handle, term()}
           | {:bad_chain, term()}
           | :empty
           | {:unknown_option, term()}}

  @max_comment 253

  @doc """
  Builds a rule. Options: `:chain`, `:handle`, `:tag` (atom), `:comment` (at most
  #{@max_comment} bytes).
  """
  @spec build([Expr.t() | Verdict.input() | [Expr.t()]], keyword()) ::
          {:ok, t()} | {:error, reason()}
  def build(exprs, opts \\ [])

  def build(exprs, opts) when is_list(exprs) and is_list(opts) do
    with :ok <- check_opts(opts),
         {:ok, list} <- expressions(exprs) do
      rule = %__MODULE__{
        expressions: list,
        chain: opts[:chain],
        handle: opts[:handle],
        tag: opts[:tag],
        comment: opts[:comment]
      }

      with :ok <- validate(rule), do: {:ok, rule}
    end
  end

  def build(other, _opts), do: {:error, {:bad_rule, {:not_an_expression, other}}}

  @doc "Like `build/2`; raises `ArgumentError`."
  @spec build!(list(), keyword()) :: t()
  def build!(exprs, opts \\ []) do
    case build(exprs, opts) do
      {:ok, r} -> r
      {:error, reason} -> raise ArgumentError, "invalid rule: #{inspect(reason)}"
    end
  end

  defp check_opts(opts) do
    case Keyword.keys(opts) -- [:chain, :handle, :tag, :comment] do
      [] -> :ok
      bad -> {:error, {:bad_rule, {:unknown_option, bad}}}
    end
  end

  defp expressions(exprs) do
    exprs
    |> Enum.flat_map(fn
      l when is_list(l) -> l
      x -> [x]
    end)
    |> Enum.reduce_while({:ok, []}, fn x, {:ok, acc} ->
      case expression(x) do
        {:ok, e} -> {:cont, {:ok, [e | acc]}}
        :error -> {:halt, {:error, {:bad_rule, {:not_an_expression, x}}}}
      end
    end)
    |> case do
      {:ok, acc} -> {:ok, Enum.reverse(acc)}
      error -> error
    end
  end

  defp expression(%Expr{} = e), do: {:ok, e}

  defp expression(x) do
    case Verdict.new(x) do
      # nft's `queue num N`: the queue expression carries the number (a verdict code
      # cannot, since kernel 6.8 refuses NF_QUEUE verdicts with parameters).
      {:ok, %Verdict{kind: :queue, target: n}} -> {:ok, Expr.queue(num: n)}
      {:ok, v} -> {:ok, %Expr{name: :immediate, data: v}}
      {:error, _} -> :error
    end
  end

  @doc false
  # Field checks shared with `Linx.Netfilter.Chain.add_rule/2` and push validation.
  @spec validate(t()) :: :ok | {:error, reason()}
  def validate(%__MODULE__{} = r) do
    cond do
      r.expressions == [] ->
        {:error, {:bad_rule, :empty}}

      not is_list(r.expressions) ->
        {:error, {:bad_rule, {:not_an_expression, r.expressions}}}

      (bad = Enum.find(r.expressions, &(not match?(%Expr{}, &1)))) != nil ->
        {:error, {:bad_rule, {:not_an_expression, bad}}}

      r.tag != nil and not is_atom(r.tag) and not is_binary(r.tag) ->
        {:error, {:bad_rule, {:tag_not_atom, r.tag}}}

      r.tag in [true, false] ->
        {:error, {:bad_rule, {:tag_not_atom, r.tag}}}

      r.comment != nil and not valid_comment?(r.comment) ->
        {:error, {:bad_rule, {:bad_comment, r.comment}}}

      r.handle != nil and not (is_integer(r.handle) and r.handle > 0) ->
        {:error, {:bad_rule, {:bad_handle, r.handle}}}

      r.chain != nil and not is_binary(r.chain) ->
        {:error, {:bad_rule, {:bad_chain, r.chain}}}

      true ->
        :ok
    end
  end

  defp valid_comment?(c),
    do: is_binary(c) and byte_size(c) <= @max_comment and not String.contains?(c, <<0>>)

  @doc "The rule's trailing verdict, or nil."
  @spec verdict(t()) :: Verdict.t() | nil
  def verdict(%__MODULE__{expressions: exprs}) do
    case List.last(exprs) do
      %Expr{name: :immediate, data: %Verdict{} = v} -> v
      %Expr{name: :queue, data: %{num: n} = d} when map_size(d) == 1 -> Verdict.queue(n)
      _ -> nil
    end
  end
end
