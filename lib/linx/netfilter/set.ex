defmodule Linx.Netfilter.Set do
  @moduledoc """
  A named set: keys of one data type (or a concatenation of types), looked up by rules.

      {:ok, set} = Linx.Netfilter.Set.new("blocked", key_type: :ipv4_addr, flags: [:interval],
                                          elements: ["10.0.0.0/8", "192.168.1.7"])
      {:ok, set} = Linx.Netfilter.Set.add_elements(set, [{"10.9.0.0", "10.9.0.9"}])

  Fields: `name`, `table`, `key_type` (required; a `Linx.Netfilter.Type` name such as
  `:ipv4_addr`, `:inet_service`, `:ifname`, `:mark`, `:ct_state`, or `{:concat,
  [types]}`), `flags` (`:constant`, `:interval`, `:timeout`, `:dynamic`, `:auto_merge`,
  `:anonymous`), `elements`, `timeout` and `gc_interval` (ms), `size`, `handle`,
  `comment`.

  Elements are validated and canonicalized (`Linx.Netfilter.Type.canonical/3`):
  textual addresses become `%Linx.IP{}`, so what is sent are the 4 or 16 address bytes
  (0.2 sent the ASCII text); prefixes and ranges need the `:interval` flag;
  concatenated keys are lists (`["10.0.0.1", 22]`). An element may carry options:
  `{key, timeout: 30_000, comment: "x"}`.
  """

  alias Linx.Netfilter.Set.Element
  alias Linx.Netfilter.Type

  @enforce_keys [:name, :key_type]
  defstruct name: nil,
            table: nil,
            key_type: nil,
            flags: [],
            elements: [],
            timeout: nil,
            gc_interval: nil,
            size: nil,
            handle: nil,
            comment: nil

  @type flag :: :constant | :interval | :timeout | :dynamic | :auto_merge | :anonymous
  @type t :: %__MODULE__{
          name: String.t(),
          table: String.t() | nil,
          key_type: Type.t(),
          flags: [flag()],
          elements: [term()],
          timeout: pos_integer() | nil,
          gc_interval: pos_integer() | nil,
          size: pos_integer() | nil,
          handle: non_neg_integer() | nil,
          comment: String.t() | nil
        }

  @flags [:constant, :interval, :timeout, :dynamic, :auto_merge, :anonymous]
  @fields [:table, :key_type, :flags, :elements, :timeout, :gc_interval, :size, :handle, :comment]

  @doc false
  @spec flags() :: [flag()]
  def flags, do: @flags

  @doc "Builds a set; `{:error, {:bad_set, reason}}` for a bad field or element."
  @spec new(String.t(), keyword()) :: {:ok, t()} | {:error, {:bad_set, term()}}
  def new(name, opts) when is_list(opts) do
    case Keyword.keys(opts) -- @fields do
      [] -> build(struct(%__MODULE__{name: name, key_type: nil}, opts))
      bad -> {:error, {:bad_set, {:unknown_option, bad}}}
    end
  end

  @doc "Like `new/2`; raises `ArgumentError`."
  @spec new!(String.t(), keyword()) :: t()
  def new!(name, opts) do
    case new(name, opts) do
      {:ok, s} -> s
      {:error, reason} -> raise ArgumentError, "invalid set: #{inspect(reason)}"
    end
  end

  @doc false
  @spec build(t()) :: {:ok, t()} | {:error, {:bad_set, term()}}
  def build(%__MODULE__{} = s) do
    with :ok <- common(s, :bad_set),
         {:ok, elements} <- canonical_elements(s, s.elements, :bad_set) do
      {:ok, %{s | elements: elements, flags: Enum.sort(Enum.uniq(s.flags))}}
    end
  end

  @doc false
  # What build/1 checks, without building: push validates values that constructors
  # already canonicalized, so it needs the verdict only (no sorting, no dedup).
  @spec check(t()) :: :ok | {:error, {:bad_set, term()}}
  def check(%__MODULE__{} = s) do
    with :ok <- common(s, :bad_set) do
      check_elements(s.elements, s.key_type, s.flags, :interval in s.flags)
    end
  end

  defp check_elements([], _type, _flags, _interval?), do: :ok

  # An address of the key's family is already canonical (Type.canonical/3 returns it
  # unchanged), the common case of large sets: no need to go through the general path.
  defp check_elements([%Linx.IP{family: :inet, zone: nil} | rest], :ipv4_addr, flags, false),
    do: check_elements(rest, :ipv4_addr, flags, false)

  defp check_elements([%Linx.IP{family: :inet6, zone: nil} | rest], :ipv6_addr, flags, false),
    do: check_elements(rest, :ipv6_addr, flags, false)

  defp check_elements([el | rest], type, flags, interval?) do
    case Element.set_element(type, flags, el) do
      {:ok, _} -> check_elements(rest, type, flags, interval?)
      {:error, why} -> {:error, {:bad_set, {:bad_element, el, why}}}
    end
  end

  @doc false
  # Checks shared with Linx.Netfilter.Map.
  @spec common(map(), atom()) :: :ok | {:error, term()}
  def common(s, tag) do
    cond do
      not is_binary(s.name) or s.name == "" ->
        {:error, {tag, :name_empty}}

      byte_size(s.name) > 255 or String.contains?(s.name, <<0>>) ->
        {:error, {tag, {:bad_name, s.name}}}

      s.key_type == nil ->
        {:error, {tag, :key_type_required}}

      not Type.valid?(s.key_type) ->
        {:error, {tag, {:unknown_key_type, s.key_type}}}

      not is_list(s.flags) ->
        {:error, {tag, {:bad_flags, s.flags}}}

      (f = Enum.find(s.flags, &(&1 not in @flags))) != nil ->
        {:error, {tag, {:unknown_flag, f}}}

      not is_list(s.elements) ->
        {:error, {tag, {:bad_elements, s.elements}}}

      not pos_or_nil?(s.timeout) ->
        {:error, {tag, {:bad_timeout, s.timeout}}}

      not pos_or_nil?(s.gc_interval) ->
        {:error, {tag, {:bad_gc_interval, s.gc_interval}}}

      not pos_or_nil?(s.size) ->
        {:error, {tag, {:bad_size, s.size}}}

      s.comment != nil and not (is_binary(s.comment) and byte_size(s.comment) <= 253) ->
        {:error, {tag, {:bad_comment, s.comment}}}

      s.handle != nil and not (is_integer(s.handle) and s.handle > 0) ->
        {:error, {tag, {:bad_handle, s.handle}}}

      :interval in s.flags and host_order?(s.key_type) ->
        {:error, {tag, {:interval_on_host_order_key, s.key_type}}}

      true ->
        :ok
    end
  end

  # Interval sets order keys bytewise; host-order keys (marks, uids) would need nft's
  # byte-order conversion in every rule using the set, which Linx does not model.
  defp host_order?({:concat, types}), do: Enum.any?(types, &host_order?/1)
  defp host_order?(type), do: Type.valid?(type) and Type.byteorder(type) == :host

  defp pos_or_nil?(nil), do: true
  defp pos_or_nil?(n), do: is_integer(n) and n > 0 and n <= 0xFFFFFFFF * 1000

  defp canonical_elements(s, elements, tag),
    do: Element.canonical_list(elements, :set, tag, &Element.set_element(s.key_type, s.flags, &1))

  @doc "Adds elements (validated); `{:error, {:bad_set_element, ...}}` for a bad one."
  @spec add_elements(t(), [term()]) :: {:ok, t()} | {:error, {:bad_set_element, term()}}
  def add_elements(%__MODULE__{} = s, elements) when is_list(elements) do
    with {:ok, new} <- canonical_elements(s, elements, :bad_set_element) do
      {:ok, %{s | elements: Element.merge(s.elements, new, :set)}}
    end
  end

  @doc "Removes elements by key."
  @spec delete_elements(t(), [term()]) :: {:ok, t()} | {:error, {:bad_set_element, term()}}
  def delete_elements(%__MODULE__{} = s, elements) when is_list(elements) do
    with {:ok, gone} <- canonical_elements(s, elements, :bad_set_element) do
      keys = MapSet.new(gone, &Element.key_of(&1, :set))
      {:ok, %{s | elements: Element.reject_keys(s.elements, keys, :set)}}
    end
  end
end
