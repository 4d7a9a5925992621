defmodule Linx.Test.NftnlRender do
  @moduledoc false
  # Renders decoded rule expressions (`{name, map}` terms from Linx.Netfilter.Native)
  # in libnftnl's debug notation — what `nft --debug=netlink` prints and what the
  # nftables tests' `.payload` files hold:
  #
  #   [ payload load 2b @ transport header + 2 => reg 1 ]
  #   [ cmp eq reg 1 0x00001600 ]
  #
  # Data values print as 32-bit host-order words, zero-padded, like libnftnl's
  # nftnl_data_reg_snprintf.

  import Bitwise

  @doc "One line per expression."
  def render(exprs), do: Enum.map(exprs, &("[ " <> expr(&1) <> " ]"))

  defp expr({:payload, %{dreg: d} = m}),
    do: "payload load #{m.len}b @ #{m.base} header + #{m.offset} => reg #{d}"

  defp expr({:payload, %{sreg: s} = m}) do
    "payload write reg #{s} => #{m.len}b @ #{m.base} header + #{m.offset} csum_type #{csum(m[:csum_type])} csum_off #{m[:csum_offset] || 0} csum_flags 0x#{hex(flags(m[:csum_flags], pseudohdr: 1))}"
  end

  defp expr({:meta, %{dreg: d, key: k}}), do: "meta load #{meta_key(k)} => reg #{d}"
  defp expr({:meta, %{sreg: s, key: k}}), do: "meta set #{meta_key(k)} with reg #{s}"
  defp expr({:cmp, m}), do: "cmp #{m.op} reg #{m.sreg} #{data(m.data)}"

  defp expr({:immediate, %{dreg: 0, data: %{verdict: v} = d}}),
    do: "immediate reg 0 #{verdict(v, d[:chain])}"

  defp expr({:immediate, %{dreg: d, data: bin}}), do: "immediate reg #{d} #{data(bin)}"

  defp expr({:bitwise, %{op: :bool} = m}),
    do: "bitwise reg #{m.dreg} = ( reg #{m.sreg} & #{data(m.mask)} ) ^ #{data(m.xor)}"

  defp expr({:bitwise, %{op: op} = m}) when op in [:lshift, :rshift] do
    <<n::native-32>> = m.data

    "bitwise reg #{m.dreg} = ( reg #{m.sreg} #{if op == :lshift, do: "<<", else: ">>"} 0x#{pad8(n)} )"
  end

  defp expr({:byteorder, m}),
    do: "byteorder reg #{m.dreg} = #{m.op}(reg #{m.sreg}, #{m.size}, #{m.len})"

  defp expr({:ct, %{dreg: d, key: k} = m}),
    do:
      "ct load #{ct_key(k)} => reg #{d}" <>
        if(m[:direction], do: " , dir #{m.direction}", else: "")

  defp expr({:ct, %{sreg: s, key: k} = m}),
    do: "ct set #{k} with reg #{s}" <> if(m[:direction], do: " , dir #{m.direction}", else: "")

  defp expr({:lookup, m}) do
    "lookup reg #{m.sreg} set #{m.set}" <>
      if(m[:dreg] != nil, do: " dreg #{m.dreg}", else: "") <>
      case flags(m[:flags], inv: 1) do
        0 -> ""
        f -> " 0x#{hex(f)}"
      end
  end

  defp expr({:range, m}), do: "range #{m.op} reg #{m.sreg} #{data(m.from)} #{data(m.to)}"
  defp expr({:counter, m}), do: "counter pkts #{m[:packets] || 0} bytes #{m[:bytes] || 0}"

  defp expr({:limit, m}) do
    unit = %{1 => "second", 60 => "minute", 3600 => "hour", 86_400 => "day", 604_800 => "week"}

    "limit rate #{m.rate}/#{unit[m.unit]} burst #{m.burst} type #{if m.type == :bytes, do: "bytes", else: "packets"} flags 0x#{hex(flags(m[:flags], inv: 1))}"
  end

  defp expr({:quota, m}),
    do:
      "quota bytes #{m.bytes} consumed #{m[:consumed] || 0} flags #{flags(m[:flags], inv: 1, depleted: 2)}"

  defp expr({:log, m}) do
    prefix = if m[:prefix], do: "prefix #{m.prefix} ", else: ""

    rest =
      if m[:group] do
        "group #{m.group} snaplen #{m[:snaplen] || 0} qthreshold #{m[:qthreshold] || 0}"
      else
        levels = %{
          emerg: 0,
          alert: 1,
          crit: 2,
          err: 3,
          warn: 4,
          notice: 5,
          info: 6,
          debug: 7,
          audit: 8
        }

        "level #{levels[m[:level] || :warn]}"
      end

    "log #{prefix}#{rest}"
  end

  defp expr({:reject, m}) do
    types = %{icmp_unreach: 0, tcp_reset: 1, icmpx_unreach: 2}
    "reject type #{types[m.type]} code #{m[:icmp_code] || 0}"
  end

  defp expr({:nat, m}) do
    regs =
      for {k, label} <- [
            reg_addr_min: "addr_min",
            reg_addr_max: "addr_max",
            reg_proto_min: "proto_min",
            reg_proto_max: "proto_max"
          ],
          m[k] != nil,
          do: " #{label} reg #{m[k]}"

    f = flags(m[:flags], nat_flags())

    "nat #{m.type} #{m.family}#{Enum.join(regs)}" <>
      if(f != 0, do: " flags 0x#{hex(f)}", else: "")
  end

  defp expr({kind, m}) when kind in [:masq, :redir] do
    f = flags(m[:flags], nat_flags())

    regs =
      for {k, label} <- [reg_proto_min: "proto_min", reg_proto_max: "proto_max"],
          m[k] != nil,
          do: " #{label} reg #{m[k]}"

    "#{kind}#{Enum.join(regs)}" <> if(f != 0, do: " flags 0x#{hex(f)}", else: "")
  end

  defp expr({:notrack, _}), do: "notrack"

  defp expr({:queue, m}) do
    num =
      case m[:total] do
        t when is_integer(t) and t > 1 -> "#{m.num}-#{m.num + t - 1}"
        _ -> "#{m[:num] || 0}"
      end

    fl = Enum.map_join(m[:flags] || [], "", &" #{&1}")
    "queue num #{num}#{fl}"
  end

  defp expr({:dynset, m}) do
    base = "dynset #{m.op} reg_key #{m.sreg_key} set #{m.set}"
    base = if (m[:timeout] || 0) > 0, do: base <> " timeout #{m.timeout}ms", else: base
    base = if m[:sreg_data], do: base <> " sreg_data #{m.sreg_data}", else: base

    exprs = if m[:expr], do: [m.expr], else: m[:exprs] || []

    Enum.reduce(exprs, base, fn e, acc -> acc <> " expr [ " <> expr(e) <> " ]" end)
  end

  defp expr({:objref, %{set: s} = m}), do: "objref sreg #{m.set_sreg} set #{s}"

  defp expr({:objref, m}) do
    types = %{
      counter: 1,
      quota: 2,
      ct_helper: 3,
      limit: 4,
      connlimit: 5,
      ct_timeout: 7,
      secmark: 8,
      ct_expect: 9,
      synproxy: 10
    }

    "objref type #{types[m.type]} name #{m.name}"
  end

  defp expr({:fib, m}) do
    names = [saddr: 1, daddr: 2, mark: 4, iif: 8, oif: 16]
    fl = m[:flags] || []
    parts = for {n, _} <- names, n in fl, do: Atom.to_string(n)
    result = %{oif: "oif", oifname: "oifname", addrtype: "type", unspec: "unspec"}[m.result]
    present = if :present in fl, do: " present", else: ""
    "fib #{Enum.join(parts, " . ")} #{result}#{present} => reg #{m.dreg}"
  end

  defp expr({:hash, %{type: :sym} = m}),
    do: "hash reg #{m.dreg} = symhash() % mod #{m.modulus}" <> offset(m)

  defp expr({:hash, m}),
    do:
      "hash reg #{m.dreg} = jhash(reg #{m.sreg}, #{m.len}, 0x#{hex(m[:seed] || 0)}) % mod #{m.modulus}" <>
        offset(m)

  defp expr({:numgen, m}), do: "numgen reg #{m.dreg} = #{m.type} mod #{m.modulus}" <> offset(m)
  defp expr({:socket, m}), do: "socket load #{m.key} => reg #{m.dreg}"

  defp expr({:rt, m}),
    do: "rt load #{if m.key == :xfrm, do: "ipsec", else: m.key} => reg #{m.dreg}"

  defp expr({:exthdr, %{dreg: d} = m}) do
    op = if m[:op] in [nil], do: "", else: "#{exthdr_op(m.op)} "
    present = if :present in (m[:flags] || []), do: " present", else: ""
    "exthdr load #{op}#{m.len}b @ #{m.type} + #{m.offset}#{present} => reg #{d}"
  end

  defp expr({:tproxy, m}) do
    a = if m[:reg_addr], do: " addr reg #{m.reg_addr}", else: ""
    p = if m[:reg_port], do: " port reg #{m.reg_port}", else: ""
    "tproxy #{m.family}#{a}#{p}"
  end

  defp expr({:dup, m}) do
    a = if m[:sreg_addr], do: " sreg_addr #{m.sreg_addr}", else: ""
    d = if m[:sreg_dev], do: " sreg_dev #{m.sreg_dev}", else: ""
    "dup#{a}#{d}"
  end

  defp expr({:synproxy, m}), do: "synproxy mss #{m[:mss] || 0} wscale #{m[:wscale] || 0}"
  defp expr({:connlimit, m}), do: "connlimit count #{m.count} flags #{flags(m[:flags], inv: 1)}"
  defp expr({name, _}), do: "#{name} ?"

  defp offset(m), do: if((m[:offset] || 0) != 0, do: " offset #{m.offset}", else: "")

  defp exthdr_op(:ipv4), do: "ip"
  defp exthdr_op(op), do: op

  defp verdict(:jump, chain), do: "jump -> #{chain}"
  defp verdict(:goto, chain), do: "goto -> #{chain}"
  defp verdict(v, _), do: "#{v}"

  defp ct_key(:pkts), do: "packets"
  defp ct_key(k), do: k

  defp meta_key(:time_ns), do: "time"
  defp meta_key(:time_day), do: "day"
  defp meta_key(:time_hour), do: "hour"
  defp meta_key(k), do: k

  defp csum(nil), do: 0
  defp csum(:none), do: 0
  defp csum(:inet), do: 1
  defp csum(:sctp), do: 2

  defp nat_flags,
    do: [
      map_ips: 1,
      proto_specified: 2,
      random: 4,
      persistent: 8,
      fully_random: 16,
      proto_offset: 32,
      netmap: 64
    ]

  defp flags(nil, _table), do: 0

  defp flags(list, table) when is_list(list) do
    Enum.reduce(list, 0, fn
      n, acc when is_integer(n) -> acc ||| n
      f, acc -> acc ||| Keyword.get(table, f, 0)
    end)
  end

  defp hex(n), do: Integer.to_string(n, 16) |> String.downcase()
  defp pad8(n), do: n |> hex() |> String.pad_leading(8, "0")

  @doc "A data value as libnftnl prints it: 32-bit host-order words."
  def data(bin) when is_binary(bin) do
    pad = rem(4 - rem(byte_size(bin), 4), 4)
    padded = bin <> :binary.copy(<<0>>, pad)
    for(<<w::little-32 <- padded>>, do: "0x" <> pad8(w)) |> Enum.join(" ")
  end
end
