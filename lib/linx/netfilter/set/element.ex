defmodule Linx.Netfilter.Set.Element do
  @moduledoc false
  # Element checks shared by Set and Map: canonical keys (Linx.Netfilter.Type), values
  # for maps, and per-element options (`:timeout` in ms, `:comment`).
  #
  # Canonical element shapes:
  #   set:  key                 | {key, [comment: c, timeout: t]}
  #   map:  {key, value}        | {key, value, [comment: c, timeout: t]}

  alias Linx.Netfilter.{Type, Verdict}

  @opt_keys [:comment, :timeout]

  @spec set_element(Type.t(), [atom()], term()) :: {:ok, term()} | {:error, String.t()}
  def set_element(key_type, flags, {key, opts}) when is_list(opts) and opts != [] do
    if Keyword.keyword?(opts) do
      with {:ok, k} <- key(key_type, flags, key),
           {:ok, o} <- options(opts),
           do: {:ok, if(o == [], do: k, else: {k, o})}
    else
      key(key_type, flags, {key, opts})
    end
  end

  def set_element(key_type, flags, key), do: key(key_type, flags, key)

  @spec map_element(Type.t(), Type.t() | :verdict, [atom()], term()) ::
          {:ok, term()} | {:error, String.t()}
  def map_element(key_type, data_type, flags, {key, value, opts}) when is_list(opts) do
    with {:ok, k} <- key(key_type, flags, key),
         {:ok, v} <- value(data_type, value),
         {:ok, o} <- options(opts),
         do: {:ok, if(o == [], do: {k, v}, else: {k, v, o})}
  end

  def map_element(key_type, data_type, flags, {key, value}) do
    with {:ok, k} <- key(key_type, flags, key),
         {:ok, v} <- value(data_type, value),
         do: {:ok, {k, v}}
  end

  def map_element(_key_type, _data_type, _flags, other),
    do: {:error, "a map element is {key, value}, got #{inspect(other)}"}

  defp key(key_type, flags, key), do: Type.canonical(key_type, key, interval: :interval in flags)

  defp value(:verdict, v) do
    case Verdict.new(v) do
      {:ok, verdict} -> {:ok, verdict}
      {:error, _} -> {:error, "not a verdict: #{inspect(v)}"}
    end
  end

  defp value(type, v), do: Type.canonical(type, v)

  defp options(opts) do
    case Keyword.keys(opts) -- @opt_keys do
      [] ->
        cond do
          (t = opts[:timeout]) != nil and not (is_integer(t) and t > 0) ->
            {:error, "element timeout must be a positive integer (ms), got #{inspect(t)}"}

          (c = opts[:comment]) != nil and not (is_binary(c) and byte_size(c) <= 253) ->
            {:error, "element comment must be a string of at most 253 bytes"}

          true ->
            {:ok, opts |> Enum.reject(fn {_, v} -> v == nil end) |> Enum.sort()}
        end

      bad ->
        {:error, "unknown element option(s) #{inspect(bad)}"}
    end
  end

  @doc false
  # The key of an element, whatever its shape.
  @spec key_of(term(), :set | :map) :: term()
  def key_of({k, opts}, :set) when is_list(opts) and opts != [] and is_tuple(hd(opts)), do: k
  def key_of(k, :set), do: k
  def key_of({k, _v, _o}, :map), do: k
  def key_of({k, _v}, :map), do: k

  # --- element lists, shared by Set and Map ---------------------------------------------

  # Every element through `canonical` ({:ok, c} | {:error, why}); the first failure is
  # `{:error, {tag, {:bad_element, el, why}}}`. Elements are unordered: the result is
  # sorted with one element per key, so equal sets are equal values.
  @spec canonical_list([term()], :set | :map, atom(), (term() -> {:ok, term()} | {:error, term()})) ::
          {:ok, [term()]} | {:error, {atom(), term()}}
  def canonical_list(elements, kind, tag, canonical) do
    elements
    |> Enum.reduce_while({:ok, []}, fn el, {:ok, acc} ->
      case canonical.(el) do
        {:ok, c} -> {:cont, {:ok, [c | acc]}}
        {:error, why} -> {:halt, {:error, {tag, {:bad_element, el, why}}}}
      end
    end)
    |> case do
      {:ok, acc} -> {:ok, acc |> Enum.reverse() |> Enum.uniq_by(&key_of(&1, kind)) |> Enum.sort()}
      error -> error
    end
  end

  # `new` canonical elements added to `existing`: a key already there takes the new one.
  @spec merge([term()], [term()], :set | :map) :: [term()]
  def merge(existing, new, kind) do
    keys = MapSet.new(new, &key_of(&1, kind))
    Enum.sort(reject_keys(existing, keys, kind) ++ new)
  end

  # `existing` without the elements whose key is in `keys` (a MapSet).
  @spec reject_keys([term()], MapSet.t(), :set | :map) :: [term()]
  def reject_keys(existing, keys, kind),
    do: Enum.reject(existing, &MapSet.member?(keys, key_of(&1, kind)))
end
