defmodule Linx.Netfilter.Map do
  @moduledoc """
  A named map: keys to values of `data_type`, or to verdicts (see `Linx.Netfilter.Vmap`).

      {:ok, m} = Linx.Netfilter.Map.new("backends", key_type: :inet_service,
                                         data_type: :ipv4_addr, elements: [{80, "10.0.0.2"}])

  Fields are those of `Linx.Netfilter.Set` plus `data_type` (a `Linx.Netfilter.Type`
  name, or `:verdict`). Elements are `{key, value}` (or `{key, value, opts}`); verdict
  values are normalised to `%Linx.Netfilter.Verdict{}`. Looking a key up in a map from a
  rule is `Expr.lookup(name, dreg: 1)` (`dreg: 0` for a verdict map).
  """

  alias Linx.Netfilter.Set.Element
  alias Linx.Netfilter.Type

  @enforce_keys [:name, :key_type, :data_type]
  defstruct name: nil,
            table: nil,
            key_type: nil,
            data_type: nil,
            flags: [],
            elements: [],
            timeout: nil,
            gc_interval: nil,
            size: nil,
            handle: nil,
            comment: nil

  @type t :: %__MODULE__{
          name: String.t(),
          table: String.t() | nil,
          key_type: Type.t(),
          data_type: Type.t() | :verdict,
          flags: [Linx.Netfilter.Set.flag()],
          elements: [term()],
          timeout: pos_integer() | nil,
          gc_interval: pos_integer() | nil,
          size: pos_integer() | nil,
          handle: non_neg_integer() | nil,
          comment: String.t() | nil
        }

  @fields [
    :table,
    :key_type,
    :data_type,
    :flags,
    :elements,
    :timeout,
    :gc_interval,
    :size,
    :handle,
    :comment
  ]

  @doc "Builds a map; `{:error, {:bad_map, reason}}` for a bad field or element."
  @spec new(String.t(), keyword()) :: {:ok, t()} | {:error, {:bad_map, term()}}
  def new(name, opts) when is_list(opts) do
    case Keyword.keys(opts) -- @fields do
      [] -> build(struct(%__MODULE__{name: name, key_type: nil, data_type: nil}, opts))
      bad -> {:error, {:bad_map, {:unknown_option, bad}}}
    end
  end

  @doc "Like `new/2`; raises `ArgumentError`."
  @spec new!(String.t(), keyword()) :: t()
  def new!(name, opts) do
    case new(name, opts) do
      {:ok, m} -> m
      {:error, reason} -> raise ArgumentError, "invalid map: #{inspect(reason)}"
    end
  end

  @doc false
  @spec build(t()) :: {:ok, t()} | {:error, {:bad_map, term()}}
  def build(%__MODULE__{} = m) do
    with :ok <- Linx.Netfilter.Set.common(m, :bad_map),
         :ok <- data_type(m),
         {:ok, elements} <- canonical_elements(m, m.elements, :bad_map) do
      {:ok, %{m | elements: elements, flags: Enum.sort(Enum.uniq(m.flags))}}
    end
  end

  @doc false
  # What build/1 checks, without building (see Linx.Netfilter.Set.check/1).
  @spec check(t()) :: :ok | {:error, {:bad_map, term()}}
  def check(%__MODULE__{} = m) do
    with :ok <- Linx.Netfilter.Set.common(m, :bad_map),
         :ok <- data_type(m) do
      Enum.reduce_while(m.elements, :ok, fn el, :ok ->
        case Element.map_element(m.key_type, m.data_type, m.flags, el) do
          {:ok, _} -> {:cont, :ok}
          {:error, why} -> {:halt, {:error, {:bad_map, {:bad_element, el, why}}}}
        end
      end)
    end
  end

  defp data_type(%{data_type: :verdict}), do: :ok

  defp data_type(%{data_type: t}) do
    if is_atom(t) and t != nil and Type.valid?(t),
      do: :ok,
      else: {:error, {:bad_map, {:unknown_data_type, t}}}
  end

  defp canonical_elements(m, elements, tag) do
    Element.canonical_list(
      elements,
      :map,
      tag,
      &Element.map_element(m.key_type, m.data_type, m.flags, &1)
    )
  end

  @doc "Adds `{key, value}` elements; an existing key gets the new value."
  @spec add_elements(t(), [term()]) :: {:ok, t()} | {:error, {:bad_map_element, term()}}
  def add_elements(%__MODULE__{} = m, elements) when is_list(elements) do
    with {:ok, new} <- canonical_elements(m, elements, :bad_map_element) do
      {:ok, %{m | elements: Element.merge(m.elements, new, :map)}}
    end
  end

  @doc "Removes elements, given as keys or as `{key, value}` pairs."
  @spec delete_elements(t(), [term()]) :: {:ok, t()} | {:error, {:bad_map_element, term()}}
  def delete_elements(%__MODULE__{} = m, elements) when is_list(elements) do
    elements
    |> Enum.reduce_while({:ok, []}, fn el, {:ok, acc} ->
      case key_of_input(m, el) do
        {:ok, k} -> {:cont, {:ok, [k | acc]}}
        {:error, why} -> {:halt, {:error, {:bad_map_element, {:bad_element, el, why}}}}
      end
    end)
    |> case do
      {:ok, keys} ->
        {:ok, %{m | elements: Element.reject_keys(m.elements, MapSet.new(keys), :map)}}

      error ->
        error
    end
  end

  # A key, or a {key, value} pair: the bare form is tried first (an interval map's
  # {lo, hi} range is a key).
  defp key_of_input(m, el) do
    interval = :interval in m.flags

    case Type.canonical(m.key_type, el, interval: interval) do
      {:ok, k} ->
        {:ok, k}

      {:error, _} = error when is_tuple(el) and tuple_size(el) in [2, 3] ->
        case Type.canonical(m.key_type, elem(el, 0), interval: interval) do
          {:ok, k} -> {:ok, k}
          _ -> error
        end

      error ->
        error
    end
  end
end
