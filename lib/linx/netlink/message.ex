defmodule Linx.Netlink.Message do
  @moduledoc """
  A netlink message: the 16-byte `nlmsghdr` (`/usr/include/linux/netlink.h`) and its
  payload. All header fields are native-endian.

      iex> msg = %Linx.Netlink.Message{type: 18, flags: 0x301, seq: 7, payload: <<0::128>>}
      iex> bin = Linx.Netlink.Message.encode(msg)
      iex> byte_size(bin)
      32
      iex> Linx.Netlink.Message.decode(bin)
      [msg]

  `decode_next/1` reads one message at a time and never raises, for kernel input;
  `decode/1` keeps 0.2's contract (a list, `ArgumentError` on a malformed buffer).
  """

  @enforce_keys [:type]
  defstruct type: nil, flags: 0, seq: 0, pid: 0, payload: <<>>

  @type t :: %__MODULE__{
          type: 0..0xFFFF,
          flags: 0..0xFFFF,
          seq: non_neg_integer(),
          pid: non_neg_integer(),
          payload: binary()
        }

  @header_size 16

  @doc "Encodes a message, padding it to a 4-byte boundary (so encodings concatenate)."
  @spec encode(t()) :: binary()
  def encode(%__MODULE__{type: type, flags: flags, seq: seq, pid: pid, payload: payload}) do
    payload = IO.iodata_to_binary(payload)
    len = @header_size + byte_size(payload)

    <<len::native-32, type::native-16, flags::native-16, seq::native-32, pid::native-32,
      payload::binary, 0::size(pad_bits(len))>>
  end

  @doc false
  @spec pad_bits(non_neg_integer()) :: non_neg_integer()
  def pad_bits(len), do: rem(4 - rem(len, 4), 4) * 8

  @doc """
  Reads the first message of `buf`: `{:ok, msg, rest}`, `:done` when nothing but padding
  remains, or `{:error, reason}` for a header whose length is below 16 or overruns the
  buffer.
  """
  @spec decode_next(binary()) :: {:ok, t(), binary()} | :done | {:error, atom()}
  def decode_next(
        <<len::native-32, type::native-16, flags::native-16, seq::native-32, pid::native-32,
          rest::binary>>
      ) do
    body = len - @header_size

    cond do
      len < @header_size ->
        {:error, :bad_length}

      byte_size(rest) < body ->
        {:error, :overrun}

      true ->
        <<payload::binary-size(body), rest::binary>> = rest
        pad = min(div(pad_bits(len), 8), byte_size(rest))
        <<_::binary-size(pad), rest::binary>> = rest

        {:ok, %__MODULE__{type: type, flags: flags, seq: seq, pid: pid, payload: payload}, rest}
    end
  end

  def decode_next(buf) when is_binary(buf), do: :done

  @doc "Splits a buffer into messages: `{:ok, [msg]}` or `{:error, reason}`. Never raises."
  @spec decode_all(binary()) :: {:ok, [t()]} | {:error, atom()}
  def decode_all(buf) when is_binary(buf), do: decode_all(buf, [])

  defp decode_all(buf, acc) do
    case decode_next(buf) do
      {:ok, msg, rest} -> decode_all(rest, [msg | acc])
      :done -> {:ok, Enum.reverse(acc)}
      {:error, _} = error -> error
    end
  end

  @doc """
  Splits a buffer into messages (0.2 contract). A tail shorter than a header is ignored;
  a length below 16 or beyond the buffer raises `ArgumentError`.
  """
  @spec decode(binary()) :: [t()]
  def decode(buf) when is_binary(buf) do
    case decode_all(buf) do
      {:ok, msgs} -> msgs
      {:error, reason} -> raise ArgumentError, "malformed netlink message buffer: #{reason}"
    end
  end
end
