defmodule Linx.Netlink.Codec.Types do
  @moduledoc false
  # Runtime half of `Linx.Netlink.Codec`: scalar/string/nested decoding that never raises,
  # and encoding that raises ArgumentError naming the field on a bad value.

  import Bitwise

  @ranges %{
    u8: {0, 0xFF},
    u16: {0, 0xFFFF},
    u32: {0, 0xFFFFFFFF},
    u64: {0, 0xFFFFFFFFFFFFFFFF},
    s8: {-0x80, 0x7F},
    s16: {-0x8000, 0x7FFF},
    s32: {-0x80000000, 0x7FFFFFFF},
    s64: {-0x8000000000000000, 0x7FFFFFFFFFFFFFFF},
    be16: {0, 0xFFFF},
    be32: {0, 0xFFFFFFFF},
    be64: {0, 0xFFFFFFFFFFFFFFFF}
  }

  @doc false
  # Walks a buffer of attributes, folding `put.(type_id, value, acc)`; stops quietly at a
  # malformed length (the attributes decoded so far are kept).
  def walk(acc, <<len::native-16, type::native-16, rest::binary>>, put) when len >= 4 do
    size = len - 4

    case rest do
      <<value::binary-size(size), rest::binary>> ->
        skip = min(rem(4 - rem(len, 4), 4), byte_size(rest))
        <<_::binary-size(skip), rest::binary>> = rest
        walk(put.(type &&& 0x3FFF, value, acc), rest, put)

      _ ->
        acc
    end
  end

  def walk(acc, _rest, _put), do: acc

  @doc false
  def decode(:u8, <<v::native-unsigned-8>>), do: v
  def decode(:u16, <<v::native-unsigned-16>>), do: v
  def decode(:u32, <<v::native-unsigned-32>>), do: v
  def decode(:u64, <<v::native-unsigned-64>>), do: v
  def decode(:s8, <<v::native-signed-8>>), do: v
  def decode(:s16, <<v::native-signed-16>>), do: v
  def decode(:s32, <<v::native-signed-32>>), do: v
  def decode(:s64, <<v::native-signed-64>>), do: v
  def decode(:be16, <<v::big-unsigned-16>>), do: v
  def decode(:be32, <<v::big-unsigned-32>>), do: v
  def decode(:be64, <<v::big-unsigned-64>>), do: v
  def decode(:string, v), do: v |> :binary.split(<<0>>) |> hd()
  def decode(:binary, v), do: v
  def decode(:flag, _), do: true

  def decode({:nested_list, child, type}, v) do
    v
    |> then(
      &walk([], &1, fn t, val, acc -> if t == child, do: [decode(type, val) | acc], else: acc end)
    )
    |> Enum.reverse()
  end

  # Any other atom is a module; a scalar type whose value had the wrong size is not.
  def decode(mod, v) when is_atom(mod) and not is_map_key(@ranges, mod), do: mod.decode(v)

  def decode(_type, _v), do: nil

  @doc false
  def resolve_dispatch(struct, []), do: struct

  def resolve_dispatch(struct, dispatches) do
    Enum.reduce(dispatches, struct, fn {field, sibling, table}, acc ->
      case Map.get(acc, field) do
        {:raw, raw} ->
          value =
            case Map.get(table, Map.get(acc, sibling)) do
              nil -> raw
              mod -> mod.decode(raw)
            end

          Map.put(acc, field, value)

        _ ->
          acc
      end
    end)
  end

  @doc false
  def header_value!(nil, _type, _field, _mod), do: 0

  def header_value!(v, type, field, mod) do
    check_int!(v, type, field, mod)
  end

  defp check_int!(v, type, field, mod) do
    {lo, hi} = Map.fetch!(@ranges, type)

    if is_integer(v) and v >= lo and v <= hi do
      v
    else
      raise ArgumentError,
            "#{inspect(mod)}.#{field} must be an integer in #{lo}..#{hi} (#{type}), got: #{inspect(v)}"
    end
  end

  @doc false
  def encode_attr(_id, nil, _type, _struct, _field, _mod), do: []

  def encode_attr(id, value, type, struct, field, mod) do
    Linx.Netlink.Attr.encode_one({id, encode_value(value, type, struct, field, mod)})
  end

  defp encode_value(v, type, _s, field, mod) when is_map_key(@ranges, type) do
    v = check_int!(v, type, field, mod)

    case type do
      :u8 -> <<v::native-unsigned-8>>
      :u16 -> <<v::native-unsigned-16>>
      :u32 -> <<v::native-unsigned-32>>
      :u64 -> <<v::native-unsigned-64>>
      :s8 -> <<v::native-signed-8>>
      :s16 -> <<v::native-signed-16>>
      :s32 -> <<v::native-signed-32>>
      :s64 -> <<v::native-signed-64>>
      :be16 -> <<v::big-unsigned-16>>
      :be32 -> <<v::big-unsigned-32>>
      :be64 -> <<v::big-unsigned-64>>
    end
  end

  defp encode_value(v, :string, _s, field, mod) do
    if is_binary(v) and not String.contains?(v, <<0>>) do
      [v, 0]
    else
      raise ArgumentError,
            "#{inspect(mod)}.#{field} must be a string without NUL bytes, got: #{inspect(v)}"
    end
  end

  defp encode_value(v, :binary, _s, field, mod) do
    if is_binary(v),
      do: v,
      else: raise(ArgumentError, "#{inspect(mod)}.#{field} must be a binary, got: #{inspect(v)}")
  end

  defp encode_value(true, :flag, _s, _field, _mod), do: <<>>

  defp encode_value(v, :flag, _s, field, mod),
    do:
      raise(ArgumentError, "#{inspect(mod)}.#{field} is a flag (true or nil), got: #{inspect(v)}")

  defp encode_value(list, {:nested_list, child, type}, s, field, mod) when is_list(list) do
    Enum.map(list, &Linx.Netlink.Attr.encode_one({child, encode_value(&1, type, s, field, mod)}))
  end

  defp encode_value(v, {:dispatch, sibling, table}, s, field, mod) do
    key = Map.get(s, sibling)

    cond do
      sub = Map.get(table, key) ->
        encode_value(v, sub, s, field, mod)

      is_binary(v) ->
        v

      true ->
        raise ArgumentError, "#{inspect(mod)}.#{field}: no codec for #{sibling} #{inspect(key)}"
    end
  end

  defp encode_value(v, type, _s, field, mod) when is_atom(type) do
    type.encode(v)
  rescue
    e in [FunctionClauseError, ArgumentError, KeyError, MatchError] ->
      reraise ArgumentError,
              "#{inspect(mod)}.#{field} cannot be encoded as #{inspect(type)}: #{inspect(v)} (#{Exception.message(e)})",
              __STACKTRACE__
  end

  defp encode_value(v, type, _s, field, mod),
    do:
      raise(
        ArgumentError,
        "#{inspect(mod)}.#{field}: unsupported type #{inspect(type)} for #{inspect(v)}"
      )
end
