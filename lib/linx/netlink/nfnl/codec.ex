defmodule Linx.Netlink.Nfnl.Codec do
  @moduledoc """
  nfnetlink framing (`/usr/include/linux/netfilter/nfnetlink.h`): subsystem ids, the
  `nlmsg_type` split, the 4-byte `nfgenmsg` header, batch envelopes and GETGEN.

      iex> Linx.Netlink.Nfnl.Codec.nlmsg_type(10, 16)
      0x0A10
      iex> Linx.Netlink.Nfnl.Codec.split_type(0x0A10)
      {10, 16}
      iex> Linx.Netlink.Nfnl.Codec.encode_nfgenmsg(:inet)
      <<1, 0, 0, 0>>
  """

  import Bitwise

  alias Linx.Netlink.{Attr, Error, Message, Request}

  # nfnetlink.h
  @subsys_ctnetlink 1
  @subsys_queue 3
  @subsys_ulog 4
  @subsys_nftables 10
  @batch_begin 0x10
  @batch_end 0x11
  @batch_genid 1
  # nf_tables.h NFT_MSG_GETGEN; enum nft_gen_attributes
  @msg_getgen 16

  @families %{unspec: 0, inet: 1, ip: 2, ipv4: 2, arp: 3, netdev: 5, bridge: 7, ip6: 10, ipv6: 10}

  @doc "NFNL_SUBSYS_NFTABLES (10)."
  @spec subsys_nftables() :: 10
  def subsys_nftables, do: @subsys_nftables

  @doc "NFNL_SUBSYS_ULOG (4)."
  @spec subsys_ulog() :: 4
  def subsys_ulog, do: @subsys_ulog

  @doc "NFNL_SUBSYS_CTNETLINK (1)."
  @spec subsys_ctnetlink() :: 1
  def subsys_ctnetlink, do: @subsys_ctnetlink

  @doc "NFNL_SUBSYS_QUEUE (3)."
  @spec subsys_queue() :: 3
  def subsys_queue, do: @subsys_queue

  @doc "The NFPROTO_* number of a family atom (`:inet` 1, `:ip` 2, ...; integers pass)."
  @spec nfproto(atom() | non_neg_integer()) :: non_neg_integer()
  def nfproto(n) when is_integer(n) and n in 0..255, do: n

  def nfproto(family) do
    Map.get(@families, family) ||
      raise ArgumentError, "unknown netfilter family #{inspect(family)}"
  end

  @doc "`subsys << 8 | type`."
  @spec nlmsg_type(0..255, 0..255) :: 0..0xFFFF
  def nlmsg_type(subsys, type), do: subsys <<< 8 ||| type

  @doc "Splits an nlmsg type into `{subsys, type}`."
  @spec split_type(0..0xFFFF) :: {0..255, 0..255}
  def split_type(t), do: {t >>> 8, t &&& 0xFF}

  @doc "The nfgenmsg header: family, version 0, res_id (big-endian)."
  @spec encode_nfgenmsg(atom() | non_neg_integer(), 0..0xFFFF) :: binary()
  def encode_nfgenmsg(family \\ :unspec, res_id \\ 0), do: <<nfproto(family), 0, res_id::16>>

  @doc "Splits a payload into `{family, version, res_id, rest}`; raises under 4 bytes."
  @spec decode_nfgenmsg(binary()) :: {non_neg_integer(), non_neg_integer(), 0..0xFFFF, binary()}
  def decode_nfgenmsg(<<family, version, res_id::16, rest::binary>>),
    do: {family, version, res_id, rest}

  def decode_nfgenmsg(other),
    do: raise(ArgumentError, "nfgenmsg needs 4 bytes, got #{inspect(other)}")

  @doc """
  A BATCH_BEGIN message for `subsys` (`res_id` = subsystem); `genid:` adds
  NFNL_BATCH_GENID so the kernel refuses the batch (ERESTART) if the ruleset changed.
  """
  @spec batch_begin(0..255, keyword()) :: Message.t()
  def batch_begin(subsys \\ @subsys_nftables, opts \\ []) do
    attrs =
      case opts[:genid] do
        nil -> <<>>
        g -> Attr.encode([{@batch_genid, <<g::32>>}])
      end

    %Message{type: @batch_begin, flags: 0x1, payload: encode_nfgenmsg(:unspec, subsys) <> attrs}
  end

  @doc "A BATCH_END message for `subsys`."
  @spec batch_end(0..255) :: Message.t()
  def batch_end(subsys \\ @subsys_nftables),
    do: %Message{type: @batch_end, flags: 0x1, payload: encode_nfgenmsg(:unspec, subsys)}

  @doc """
  Reads the ruleset generation (NFT_MSG_GETGEN): `{:ok, %{id, proc_pid, proc_name}}`
  (the last process that committed a change).
  """
  @spec get_gen(Linx.Netlink.Socket.t()) ::
          {:ok,
           %{
             id: non_neg_integer(),
             proc_pid: non_neg_integer() | nil,
             proc_name: String.t() | nil
           }}
          | {:error, :empty_reply}
          | {:error, Error.t()}
  def get_gen(sock) do
    type = nlmsg_type(@subsys_nftables, @msg_getgen)

    case Request.talk(sock, type, 0, encode_nfgenmsg(), operation: :get_gen) do
      {:ok, [%Message{payload: <<_::binary-size(4), attrs::binary>>} | _]} ->
        case Attr.parse(attrs) do
          {:ok, list} ->
            gen = %{id: nil, proc_pid: nil, proc_name: nil}

            gen =
              Enum.reduce(list, gen, fn
                {1, <<id::32>>}, acc -> %{acc | id: id}
                {2, <<pid::32>>}, acc -> %{acc | proc_pid: pid}
                {3, name}, acc -> %{acc | proc_name: String.trim_trailing(name, <<0>>)}
                _, acc -> acc
              end)

            if gen.id, do: {:ok, gen}, else: {:error, :empty_reply}

          {:error, _} ->
            {:error, Error.new(:eproto, operation: :get_gen, message: "malformed NEWGEN")}
        end

      {:ok, _} ->
        {:error, :empty_reply}

      {:error, _} = error ->
        error
    end
  end
end
