defmodule Linx.Netfilter.Log.Event do
  @moduledoc """
  One packet logged to NFLOG, as `Linx.Netfilter.Log` delivers it in
  `{:linx_netfilter, :log, %Linx.Netfilter.Log.Event{}}`.

      receive do
        {:linx_netfilter, :log, %Linx.Netfilter.Log.Event{prefix: "ssh: "} = ev} ->
          {ev.hook, ev.indev, ev.saddr, ev.dport}
      end

  From the kernel's message (`/usr/include/linux/netfilter/nfnetlink_log.h`):

    * `:group` — the NFLOG group; `:family` — the packet's protocol family (`:ipv4`,
      `:ipv6`, `:bridge`, `:arp`, `:netdev`, or the number);
    * `:prefix` — the log rule's prefix (nil when it has none);
    * `:hook` — where the packet was seen: `:prerouting`, `:input`, `:forward`,
      `:output`, `:postrouting` (`:ingress`/`:egress` for netdev, `:input`/`:output`/
      `:forward` for arp), or the number;
    * `:hw_protocol` — the link-layer protocol (ethertype, e.g. `0x0800`);
    * `:indev`, `:outdev`, `:physindev`, `:physoutdev` — interface indexes (the
      physical ones for a bridge port), nil when not set;
    * `:hwaddr` — the source link-layer address (bytes); `:hwtype` (ARPHRD_*),
      `:hwheader` (the link-layer header bytes);
    * `:mark` — the packet mark; `:timestamp` — `{seconds, microseconds}`;
    * `:uid`, `:gid` — of the local socket that sent the packet (present on output
      paths when a process's socket owns it);
    * `:seq`, `:seq_global` — sequence numbers (listener `flags: [:seq, :seq_global]`);
    * `:ct_info` — the conntrack state number (`flags: [:conntrack]`); `:vlan` —
      `%{proto: ethertype, tci: tci}` when the packet had a VLAN tag;
    * `:payload` — the packet bytes from the network header on, as much as the copy
      mode allows (`<<>>` when only metadata is copied).

  Read from the payload's IP header when it is there (nil otherwise):

    * `:saddr`, `:daddr` — `%Linx.IP{}`;
    * `:protocol` — `:icmp`, `:tcp`, `:udp`, `:icmpv6`, `:sctp`, ... or the number (past
      IPv6 extension headers);
    * `:sport`, `:dport` — TCP, UDP, UDP-Lite and SCTP ports;
    * `:icmp_type`, `:icmp_code` — ICMP and ICMPv6.
  """

  import Bitwise

  defstruct group: nil,
            family: nil,
            prefix: nil,
            hook: nil,
            hw_protocol: nil,
            mark: nil,
            timestamp: nil,
            indev: nil,
            outdev: nil,
            physindev: nil,
            physoutdev: nil,
            hwaddr: nil,
            hwtype: nil,
            hwheader: nil,
            payload: <<>>,
            uid: nil,
            gid: nil,
            seq: nil,
            seq_global: nil,
            ct_info: nil,
            vlan: nil,
            saddr: nil,
            daddr: nil,
            protocol: nil,
            sport: nil,
            dport: nil,
            icmp_type: nil,
            icmp_code: nil

  @type t :: %__MODULE__{
          group: 0..0xFFFF | nil,
          family: atom() | non_neg_integer() | nil,
          prefix: String.t() | nil,
          hook: atom() | non_neg_integer() | nil,
          hw_protocol: 0..0xFFFF | nil,
          mark: non_neg_integer() | nil,
          timestamp: {non_neg_integer(), non_neg_integer()} | nil,
          indev: non_neg_integer() | nil,
          outdev: non_neg_integer() | nil,
          physindev: non_neg_integer() | nil,
          physoutdev: non_neg_integer() | nil,
          hwaddr: binary() | nil,
          hwtype: non_neg_integer() | nil,
          hwheader: binary() | nil,
          payload: binary(),
          uid: non_neg_integer() | nil,
          gid: non_neg_integer() | nil,
          seq: non_neg_integer() | nil,
          seq_global: non_neg_integer() | nil,
          ct_info: non_neg_integer() | nil,
          vlan: %{proto: 0..0xFFFF | nil, tci: 0..0xFFFF | nil} | nil,
          saddr: Linx.IP.t() | nil,
          daddr: Linx.IP.t() | nil,
          protocol: atom() | non_neg_integer() | nil,
          sport: 0..0xFFFF | nil,
          dport: 0..0xFFFF | nil,
          icmp_type: 0..255 | nil,
          icmp_code: 0..255 | nil
        }

  # nfnetlink_log.h enum nfulnl_attr_type
  @nfula_packet_hdr 1
  @nfula_mark 2
  @nfula_timestamp 3
  @nfula_ifindex_indev 4
  @nfula_ifindex_outdev 5
  @nfula_ifindex_physindev 6
  @nfula_ifindex_physoutdev 7
  @nfula_hwaddr 8
  @nfula_payload 9
  @nfula_prefix 10
  @nfula_uid 11
  @nfula_seq 12
  @nfula_seq_global 13
  @nfula_gid 14
  @nfula_hwtype 15
  @nfula_hwheader 16
  @nfula_ct_info 19
  @nfula_vlan 20
  # enum nfulnl_vlan_attr
  @nfula_vlan_proto 1
  @nfula_vlan_tci 2

  # linux/netfilter.h NFPROTO_*
  @families %{1 => :inet, 2 => :ipv4, 3 => :arp, 5 => :netdev, 7 => :bridge, 10 => :ipv6}

  # linux/netfilter.h enum nf_inet_hooks (bridge hooks share the numbers, netfilter_bridge.h),
  # enum nf_dev_hooks, linux/netfilter_arp.h NF_ARP_*
  @inet_hooks %{0 => :prerouting, 1 => :input, 2 => :forward, 3 => :output, 4 => :postrouting}
  @hooks %{
    inet: @inet_hooks,
    ipv4: @inet_hooks,
    ipv6: @inet_hooks,
    bridge: Map.put(@inet_hooks, 5, :brouting),
    netdev: %{0 => :ingress, 1 => :egress},
    arp: %{0 => :input, 1 => :output, 2 => :forward}
  }

  # /etc/protocols numbers for the IP protocol field
  @protocols %{
    1 => :icmp,
    2 => :igmp,
    6 => :tcp,
    17 => :udp,
    33 => :dccp,
    47 => :gre,
    50 => :esp,
    51 => :ah,
    58 => :icmpv6,
    132 => :sctp,
    136 => :udplite
  }

  @doc """
  Decodes the body of one `NFULNL_MSG_PACKET` message (nfgenmsg header and
  attributes): `{:ok, %Event{}}` or `{:error, reason}` for a body too short or whose
  attributes do not parse. Never raises.

      iex> body = <<2, 0, 5::16, 8::native-16, 1::native-16, 0x0800::16, 1, 0, 7::native-16, 10::native-16, "hi", 0, 0>>
      iex> {:ok, ev} = Linx.Netfilter.Log.Event.decode(body)
      iex> {ev.group, ev.family, ev.hook, ev.prefix}
      {5, :ipv4, :input, "hi"}
  """
  @spec decode(binary()) :: {:ok, t()} | {:error, atom()}
  def decode(<<family, _version, group::16, attrs::binary>>) do
    case Linx.Netlink.Attr.parse(attrs) do
      {:ok, list} ->
        fam = Map.get(@families, family, family)
        ev = Enum.reduce(list, %__MODULE__{group: group, family: fam}, &attr/2)
        {:ok, ev |> hook_name() |> packet()}

      {:error, reason} ->
        {:error, reason}
    end
  end

  def decode(bin) when is_binary(bin), do: {:error, :short_message}

  defp attr({type, value}, ev), do: field(type &&& 0x3FFF, value, ev)

  defp field(@nfula_packet_hdr, <<proto::16, hook, _pad, _::binary>>, ev),
    do: %{ev | hw_protocol: proto, hook: hook}

  defp field(@nfula_mark, <<v::32>>, ev), do: %{ev | mark: v}

  defp field(@nfula_timestamp, <<sec::64, usec::64>>, ev), do: %{ev | timestamp: {sec, usec}}

  defp field(@nfula_ifindex_indev, <<v::32>>, ev), do: %{ev | indev: v}
  defp field(@nfula_ifindex_outdev, <<v::32>>, ev), do: %{ev | outdev: v}
  defp field(@nfula_ifindex_physindev, <<v::32>>, ev), do: %{ev | physindev: v}
  defp field(@nfula_ifindex_physoutdev, <<v::32>>, ev), do: %{ev | physoutdev: v}

  # struct nfulnl_msg_packet_hw: be16 length, 2 bytes pad, 8 address bytes
  defp field(@nfula_hwaddr, <<len::16, _pad::16, addr::binary-size(8), _::binary>>, ev),
    do: %{ev | hwaddr: binary_part(addr, 0, min(len, 8))}

  defp field(@nfula_payload, v, ev), do: %{ev | payload: v}

  defp field(@nfula_prefix, v, ev) do
    prefix = v |> :binary.split(<<0>>) |> hd()
    %{ev | prefix: if(String.valid?(prefix), do: prefix, else: nil)}
  end

  defp field(@nfula_uid, <<v::32>>, ev), do: %{ev | uid: v}
  defp field(@nfula_gid, <<v::32>>, ev), do: %{ev | gid: v}
  defp field(@nfula_seq, <<v::32>>, ev), do: %{ev | seq: v}
  defp field(@nfula_seq_global, <<v::32>>, ev), do: %{ev | seq_global: v}
  defp field(@nfula_hwtype, <<v::16>>, ev), do: %{ev | hwtype: v}
  defp field(@nfula_hwheader, v, ev), do: %{ev | hwheader: v}
  defp field(@nfula_ct_info, <<v::32>>, ev), do: %{ev | ct_info: v}

  defp field(@nfula_vlan, v, ev) do
    case Linx.Netlink.Attr.parse(v) do
      {:ok, list} ->
        vlan =
          Enum.reduce(list, %{proto: nil, tci: nil}, fn
            {t, <<p::16>>}, acc when (t &&& 0x3FFF) == @nfula_vlan_proto -> %{acc | proto: p}
            {t, <<tci::16>>}, acc when (t &&& 0x3FFF) == @nfula_vlan_tci -> %{acc | tci: tci}
            _, acc -> acc
          end)

        %{ev | vlan: vlan}

      {:error, _} ->
        ev
    end
  end

  # Unknown attributes, and known ones of the wrong size, are skipped.
  defp field(_type, _value, ev), do: ev

  defp hook_name(%{hook: hook, family: fam} = ev) when is_integer(hook) do
    case @hooks do
      %{^fam => %{^hook => name}} -> %{ev | hook: name}
      _ -> ev
    end
  end

  defp hook_name(ev), do: ev

  # -- the payload's headers --------------------------------------------------------

  defp packet(%{payload: <<>>} = ev), do: ev

  defp packet(%{payload: p, family: fam, hw_protocol: hw} = ev) do
    cond do
      fam == :ipv4 or (hw == 0x0800 and fam != :ipv6) -> ipv4(p, ev)
      fam == :ipv6 or hw == 0x86DD -> ipv6(p, ev)
      true -> ev
    end
  end

  defp ipv4(
         <<4::4, ihl::4, _tos, _len::16, _id::16, _flags::3, frag::13, _ttl, proto, _sum::16,
           saddr::binary-size(4), daddr::binary-size(4), _::binary>> = p,
         ev
       ) do
    ev = %{ev | saddr: Linx.IP.decode(saddr), daddr: Linx.IP.decode(daddr)}
    hlen = ihl * 4

    if frag == 0 and hlen >= 20 and byte_size(p) >= hlen do
      transport(proto, binary_part(p, hlen, byte_size(p) - hlen), ev)
    else
      %{ev | protocol: protocol(proto)}
    end
  end

  defp ipv4(_p, ev), do: ev

  defp ipv6(
         <<6::4, _tc::8, _flow::20, _plen::16, next, _hops, saddr::binary-size(16),
           daddr::binary-size(16), rest::binary>>,
         ev
       ) do
    ev = %{ev | saddr: Linx.IP.decode(saddr), daddr: Linx.IP.decode(daddr)}
    ipv6_next(next, rest, ev, 8)
  end

  defp ipv6(_p, ev), do: ev

  # Extension headers (at most a few: a packet cannot make this loop long).
  defp ipv6_next(_next, _rest, ev, 0), do: ev

  # hop-by-hop (0), routing (43), destination options (60): length in 8-byte units
  defp ipv6_next(next, <<nh, len, _::binary>> = rest, ev, budget) when next in [0, 43, 60] do
    size = (len + 1) * 8

    if byte_size(rest) >= size,
      do: ipv6_next(nh, binary_part(rest, size, byte_size(rest) - size), ev, budget - 1),
      else: %{ev | protocol: protocol(next)}
  end

  # fragment (44): only the first fragment has the transport header
  defp ipv6_next(44, <<nh, _res, offset::13, _::3, _id::32, rest::binary>>, ev, budget) do
    if offset == 0,
      do: ipv6_next(nh, rest, ev, budget - 1),
      else: %{ev | protocol: protocol(nh)}
  end

  # authentication header (51): length in 4-byte units, minus 2
  defp ipv6_next(51, <<nh, len, _::binary>> = rest, ev, budget) do
    size = (len + 2) * 4

    if byte_size(rest) >= size,
      do: ipv6_next(nh, binary_part(rest, size, byte_size(rest) - size), ev, budget - 1),
      else: %{ev | protocol: protocol(51)}
  end

  defp ipv6_next(next, rest, ev, _budget), do: transport(next, rest, ev)

  defp transport(proto, <<sport::16, dport::16, _::binary>>, ev)
       when proto in [6, 17, 132, 136, 33],
       do: %{ev | protocol: protocol(proto), sport: sport, dport: dport}

  defp transport(proto, <<type, code, _::binary>>, ev) when proto in [1, 58],
    do: %{ev | protocol: protocol(proto), icmp_type: type, icmp_code: code}

  defp transport(proto, _rest, ev), do: %{ev | protocol: protocol(proto)}

  defp protocol(n), do: Map.get(@protocols, n, n)

  defimpl Inspect do
    def inspect(ev, _opts) do
      flow =
        case {ev.saddr, ev.daddr} do
          {nil, _} -> nil
          {s, d} -> "#{proto(ev)} #{addr(s, ev.sport)} > #{addr(d, ev.dport)}"
        end

      devs =
        [in: ev.indev, out: ev.outdev]
        |> Enum.reject(fn {_, v} -> v == nil end)
        |> Enum.map_join(" ", fn {k, v} -> "#{k}=#{v}" end)

      parts =
        [
          "group=#{ev.group}",
          ev.prefix && inspect(ev.prefix),
          ev.hook && to_string(ev.hook),
          devs,
          flow,
          "#{byte_size(ev.payload)}B"
        ]
        |> Enum.reject(&(&1 in [nil, ""]))

      "#Linx.Netfilter.Log.Event<" <> Enum.join(parts, " ") <> ">"
    end

    defp proto(%{protocol: p}) when is_atom(p) and p != nil, do: to_string(p)
    defp proto(%{protocol: p}) when is_integer(p), do: "proto #{p}"
    defp proto(_), do: "ip"

    defp addr(ip, nil), do: Linx.IP.to_string(ip)

    defp addr(%Linx.IP{family: :inet6} = ip, port), do: "[#{Linx.IP.to_string(ip)}]:#{port}"
    defp addr(ip, port), do: "#{Linx.IP.to_string(ip)}:#{port}"
  end
end
