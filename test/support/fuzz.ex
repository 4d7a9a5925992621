defmodule Linx.Test.Fuzz do
  @moduledoc """
  Mutation fuzzing for decoders of kernel messages.

  `inputs/3` derives a stream of inputs from seed messages (real kernel replies): each is
  either random bytes or a seed mutated by one of the strategies a hostile or buggy
  kernel (or a corrupted capture) could produce — flipped bits, overwritten bytes,
  truncation, corrupted nlmsghdr/nlattr lengths, spliced halves of two messages, inserted
  attributes of random type and size, duplicated attributes. The stream is reproducible
  from the `:rand` seed the caller passes (printed by the test on failure).
  """

  import Bitwise

  @strategies [
    :random,
    :flip_bits,
    :overwrite_bytes,
    :truncate,
    :nlmsg_len,
    :attr_len,
    :splice,
    :insert_attr,
    :duplicate_tail,
    :zero_run
  ]

  @doc "The mutation strategies, in the order `inputs/3` cycles through them."
  @spec strategies() :: [atom()]
  def strategies, do: @strategies

  @doc """
  `count` inputs from the non-empty list of `seeds` (binaries), deterministic for
  `rand_seed` (an integer).
  """
  @spec inputs([binary()], pos_integer(), integer()) :: Enumerable.t()
  def inputs([_ | _] = seeds, count, rand_seed) do
    seeds = List.to_tuple(seeds)
    n = tuple_size(seeds)

    Stream.unfold({0, :rand.seed_s(:exsss, rand_seed)}, fn
      {^count, _} ->
        nil

      {i, state} ->
        strategy = Enum.at(@strategies, rem(i, length(@strategies)))
        {pick, state} = :rand.uniform_s(n, state)
        {input, state} = mutate(strategy, elem(seeds, pick - 1), seeds, state)
        {{strategy, input}, {i + 1, state}}
    end)
  end

  defp mutate(:random, _seed, _seeds, s) do
    {len, s} = :rand.uniform_s(600, s)
    bytes(len - 1, s)
  end

  defp mutate(:flip_bits, seed, _seeds, s) when byte_size(seed) > 0 do
    {flips, s} = :rand.uniform_s(8, s)

    Enum.reduce(1..flips, {seed, s}, fn _, {bin, s} ->
      {pos, s} = :rand.uniform_s(byte_size(bin) * 8, s)
      pos = pos - 1
      <<pre::bitstring-size(pos), b::1, post::bitstring>> = bin
      {<<pre::bitstring, bxor(b, 1)::1, post::bitstring>>, s}
    end)
  end

  defp mutate(:overwrite_bytes, seed, _seeds, s) when byte_size(seed) > 0 do
    {count, s} = :rand.uniform_s(6, s)

    Enum.reduce(1..count, {seed, s}, fn _, {bin, s} ->
      {pos, s} = :rand.uniform_s(byte_size(bin), s)
      {v, s} = interesting_byte(s)
      {put_bytes(bin, pos - 1, <<v>>), s}
    end)
  end

  defp mutate(:truncate, seed, _seeds, s) do
    {keep, s} = :rand.uniform_s(byte_size(seed) + 1, s)
    {binary_part(seed, 0, keep - 1), s}
  end

  # A lying nlmsg_len: short, zero, huge, or off by a few bytes.
  defp mutate(:nlmsg_len, seed, _seeds, s) when byte_size(seed) >= 4 do
    {len, s} = interesting_u32(byte_size(seed), s)
    {put_bytes(seed, 0, <<len::native-32>>), s}
  end

  # Corrupts the length of an attribute somewhere after the headers (or of any 4-byte
  # aligned position, which is where attribute headers live).
  defp mutate(:attr_len, seed, _seeds, s) when byte_size(seed) >= 8 do
    slots = div(byte_size(seed) - 4, 4)
    {slot, s} = :rand.uniform_s(slots, s)
    {len, s} = interesting_u16(s)
    {put_bytes(seed, slot * 4, <<len::native-16>>), s}
  end

  defp mutate(:splice, seed, seeds, s) do
    {other, s} = :rand.uniform_s(tuple_size(seeds), s)
    other = elem(seeds, other - 1)
    {cut_a, s} = :rand.uniform_s(byte_size(seed) + 1, s)
    {cut_b, s} = :rand.uniform_s(byte_size(other) + 1, s)
    a = binary_part(seed, 0, cut_a - 1)
    b = binary_part(other, cut_b - 1, byte_size(other) - cut_b + 1)
    {a <> b, s}
  end

  # Appends an attribute of random type (nested/byte-order flag bits included) and size,
  # then fixes nlmsg_len so the framing is valid and the payload is what is under test.
  defp mutate(:insert_attr, seed, _seeds, s) when byte_size(seed) >= 16 do
    {type, s} = :rand.uniform_s(0x10000, s)
    {size, s} = :rand.uniform_s(41, s)
    {payload, s} = bytes(size - 1, s)
    len = 4 + byte_size(payload)
    pad = rem(4 - rem(len, 4), 4)
    attr = <<len::native-16, type - 1::native-16, payload::binary, 0::size(pad * 8)>>
    aligned = seed <> :binary.copy(<<0>>, rem(4 - rem(byte_size(seed), 4), 4))
    out = aligned <> attr
    {put_bytes(out, 0, <<byte_size(out)::native-32>>), s}
  end

  defp mutate(:duplicate_tail, seed, _seeds, s) when byte_size(seed) > 20 do
    {from, s} = :rand.uniform_s(byte_size(seed) - 16, s)
    tail = binary_part(seed, from + 15, byte_size(seed) - from - 15)
    {seed <> tail, s}
  end

  defp mutate(:zero_run, seed, _seeds, s) when byte_size(seed) > 0 do
    {pos, s} = :rand.uniform_s(byte_size(seed), s)
    {run, s} = :rand.uniform_s(16, s)
    run = min(run, byte_size(seed) - pos + 1)
    {put_bytes(seed, pos - 1, :binary.copy(<<0>>, run)), s}
  end

  # Seeds too short for a strategy get random bytes instead.
  defp mutate(_strategy, seed, seeds, s), do: mutate(:random, seed, seeds, s)

  defp put_bytes(bin, pos, bytes) do
    size = min(byte_size(bytes), byte_size(bin) - pos)
    <<pre::binary-size(pos), _::binary-size(size), post::binary>> = bin
    <<pre::binary, binary_part(bytes, 0, size)::binary, post::binary>>
  end

  defp bytes(0, s), do: {<<>>, s}

  defp bytes(n, s) do
    Enum.reduce(1..n, {[], s}, fn _, {acc, s} ->
      {b, s} = :rand.uniform_s(256, s)
      {[b - 1 | acc], s}
    end)
    |> then(fn {acc, s} -> {IO.iodata_to_binary(acc), s} end)
  end

  defp interesting_byte(s) do
    {k, s} = :rand.uniform_s(6, s)

    case k do
      1 -> {0, s}
      2 -> {0xFF, s}
      3 -> {0x7F, s}
      4 -> {0x80, s}
      _ -> :rand.uniform_s(256, s) |> then(fn {v, s} -> {v - 1, s} end)
    end
  end

  defp interesting_u16(s) do
    {k, s} = :rand.uniform_s(7, s)

    case k do
      1 -> {0, s}
      2 -> {3, s}
      3 -> {4, s}
      4 -> {5, s}
      5 -> {0xFFFF, s}
      _ -> :rand.uniform_s(0x200, s)
    end
  end

  defp interesting_u32(size, s) do
    {k, s} = :rand.uniform_s(7, s)

    case k do
      1 -> {0, s}
      2 -> {15, s}
      3 -> {16, s}
      4 -> {size + 1, s}
      5 -> {0xFFFFFFFF, s}
      6 -> {max(size - 3, 0), s}
      _ -> :rand.uniform_s(size + 64, s)
    end
  end
end
