defmodule Linx.Test.NftJson do
  @moduledoc false
  # Compiles libnftables JSON rule statements (the `.t.json` files of the nftables
  # tests) into Linx expressions the way nft compiles them, for the subset the Linx
  # model expresses: payload fields (byte-aligned and sub-byte), meta and ct keys,
  # comparisons, anonymous sets, ranges, prefixes, named set lookups, verdict maps,
  # verdicts, counter, limit, quota, log, reject, nat/masquerade/redirect, meta/ct/
  # payload mangling, notrack and queue — with nft's implicit protocol dependencies.
  # Anything else is `{:unsupported, reason}`: the harness counts it as not
  # expressible, never as a pass.

  import Bitwise

  alias Linx.Netfilter.{Expr, Type}

  defmodule Unsupported do
    defexception [:message]
  end

  # {proto, field} => {base, bit offset, bit length, type}
  @fields %{
    {"ether", "daddr"} => {:link, 0, 48, :ether_addr},
    {"ether", "saddr"} => {:link, 48, 48, :ether_addr},
    {"ether", "type"} => {:link, 96, 16, :ether_type},
    {"ip", "version"} => {:network, 0, 4, :int},
    {"ip", "hdrlength"} => {:network, 4, 4, :int},
    {"ip", "dscp"} => {:network, 8, 6, :dscp},
    {"ip", "ecn"} => {:network, 14, 2, :ecn},
    {"ip", "length"} => {:network, 16, 16, :int},
    {"ip", "id"} => {:network, 32, 16, :int},
    {"ip", "frag-off"} => {:network, 48, 16, :int},
    {"ip", "ttl"} => {:network, 64, 8, :int},
    {"ip", "protocol"} => {:network, 72, 8, :inet_proto},
    {"ip", "checksum"} => {:network, 80, 16, :int},
    {"ip", "saddr"} => {:network, 96, 32, :ipv4_addr},
    {"ip", "daddr"} => {:network, 128, 32, :ipv4_addr},
    {"ip6", "version"} => {:network, 0, 4, :int},
    {"ip6", "dscp"} => {:network, 4, 6, :dscp},
    {"ip6", "ecn"} => {:network, 10, 2, :ecn},
    {"ip6", "flowlabel"} => {:network, 12, 20, :int},
    {"ip6", "length"} => {:network, 32, 16, :int},
    {"ip6", "nexthdr"} => {:network, 48, 8, :inet_proto},
    {"ip6", "hoplimit"} => {:network, 56, 8, :int},
    {"ip6", "saddr"} => {:network, 64, 128, :ipv6_addr},
    {"ip6", "daddr"} => {:network, 192, 128, :ipv6_addr},
    {"tcp", "sport"} => {:transport, 0, 16, :inet_service},
    {"tcp", "dport"} => {:transport, 16, 16, :inet_service},
    {"tcp", "sequence"} => {:transport, 32, 32, :int},
    {"tcp", "ackseq"} => {:transport, 64, 32, :int},
    {"tcp", "doff"} => {:transport, 96, 4, :int},
    {"tcp", "flags"} => {:transport, 104, 8, :tcp_flag},
    {"tcp", "window"} => {:transport, 112, 16, :int},
    {"tcp", "checksum"} => {:transport, 128, 16, :int},
    {"tcp", "urgptr"} => {:transport, 144, 16, :int},
    {"udp", "sport"} => {:transport, 0, 16, :inet_service},
    {"udp", "dport"} => {:transport, 16, 16, :inet_service},
    {"udp", "length"} => {:transport, 32, 16, :int},
    {"udp", "checksum"} => {:transport, 48, 16, :int},
    {"udplite", "sport"} => {:transport, 0, 16, :inet_service},
    {"udplite", "dport"} => {:transport, 16, 16, :inet_service},
    {"udplite", "checksum"} => {:transport, 48, 16, :int},
    {"sctp", "sport"} => {:transport, 0, 16, :inet_service},
    {"sctp", "dport"} => {:transport, 16, 16, :inet_service},
    {"sctp", "vtag"} => {:transport, 32, 32, :int},
    {"sctp", "checksum"} => {:transport, 64, 32, :int},
    {"dccp", "sport"} => {:transport, 0, 16, :inet_service},
    {"dccp", "dport"} => {:transport, 16, 16, :inet_service},
    {"th", "sport"} => {:transport, 0, 16, :inet_service},
    {"th", "dport"} => {:transport, 16, 16, :inet_service},
    {"icmp", "type"} => {:transport, 0, 8, :icmp_type},
    {"icmp", "code"} => {:transport, 8, 8, :int},
    {"icmp", "checksum"} => {:transport, 16, 16, :int},
    {"icmp", "id"} => {:transport, 32, 16, :int},
    {"icmp", "sequence"} => {:transport, 48, 16, :int},
    {"icmp", "gateway"} => {:transport, 32, 32, :ipv4_addr},
    {"icmp", "mtu"} => {:transport, 48, 16, :int},
    {"icmpv6", "type"} => {:transport, 0, 8, :icmpv6_type},
    {"icmpv6", "code"} => {:transport, 8, 8, :int},
    {"icmpv6", "checksum"} => {:transport, 16, 16, :int},
    {"icmpv6", "parameter-problem"} => {:transport, 32, 32, :int},
    {"icmpv6", "packet-too-big"} => {:transport, 32, 32, :int},
    {"icmpv6", "id"} => {:transport, 32, 16, :int},
    {"icmpv6", "sequence"} => {:transport, 48, 16, :int},
    {"icmpv6", "max-delay"} => {:transport, 32, 16, :int},
    {"esp", "spi"} => {:transport, 0, 32, :int},
    {"esp", "sequence"} => {:transport, 32, 32, :int},
    {"ah", "nexthdr"} => {:transport, 0, 8, :inet_proto},
    {"ah", "hdrlength"} => {:transport, 8, 8, :int},
    {"ah", "reserved"} => {:transport, 16, 16, :int},
    {"ah", "spi"} => {:transport, 32, 32, :int},
    {"ah", "sequence"} => {:transport, 64, 32, :int},
    {"comp", "nexthdr"} => {:transport, 0, 8, :inet_proto},
    {"comp", "flags"} => {:transport, 8, 8, :int},
    {"comp", "cpi"} => {:transport, 16, 16, :int},
    {"igmp", "type"} => {:transport, 0, 8, :int},
    {"igmp", "mrt"} => {:transport, 8, 8, :int},
    {"igmp", "checksum"} => {:transport, 16, 16, :int},
    {"igmp", "group"} => {:transport, 32, 32, :ipv4_addr}
  }

  # transport protocol => protocol number (its l4 dependency)
  @l4 %{
    "tcp" => 6,
    "udp" => 17,
    "udplite" => 136,
    "sctp" => 132,
    "dccp" => 33,
    "icmp" => 1,
    "icmpv6" => 58,
    "esp" => 50,
    "ah" => 51,
    "comp" => 108,
    "igmp" => 2
  }

  @meta_types %{
    "mark" => :mark,
    "iifname" => :ifname,
    "oifname" => :ifname,
    "iiftype" => :iface_type,
    "oiftype" => :iface_type,
    "skuid" => :uid,
    "skgid" => :gid,
    "nfproto" => :nfproto,
    "l4proto" => :inet_proto,
    "protocol" => :ether_type,
    "length" => :len32,
    "priority" => :classid,
    "pkttype" => :pkt_type,
    "cpu" => :len32,
    "iifgroup" => :devgroup,
    "oifgroup" => :devgroup,
    "cgroup" => :len32,
    "nftrace" => :bit8,
    "rtclassid" => :realm,
    "secpath" => :bit8,
    "random" => :be32
  }

  @meta_keys %{"length" => :len, "random" => :prandom}

  @ct_types %{
    "state" => :ct_state,
    "status" => :ct_status,
    "mark" => :mark,
    "direction" => :ct_dir,
    "l3proto" => :nfproto,
    "protocol" => :inet_proto,
    "zone" => :len16,
    "expiration" => :msecs,
    "packets" => :len64,
    "bytes" => :len64,
    "avgpkt" => :len64,
    "proto-src" => :inet_service,
    "proto-dst" => :inet_service,
    "ip saddr" => :ipv4_addr,
    "ip daddr" => :ipv4_addr,
    "ip6 saddr" => :ipv6_addr,
    "ip6 daddr" => :ipv6_addr
  }

  @ct_keys %{
    "l3proto" => :l3protocol,
    "proto-src" => :proto_src,
    "proto-dst" => :proto_dst,
    "packets" => :pkts,
    "ip saddr" => :src_ip,
    "ip daddr" => :dst_ip,
    "ip6 saddr" => :src_ip6,
    "ip6 daddr" => :dst_ip6
  }

  @ct_dirs %{"original" => 0, "reply" => 1}
  @ct_status %{
    "expected" => 1,
    "seen-reply" => 2,
    "assured" => 4,
    "confirmed" => 8,
    "snat" => 16,
    "dnat" => 32,
    "dying" => 512
  }
  @tcp_flags %{
    "fin" => 1,
    "syn" => 2,
    "rst" => 4,
    "psh" => 8,
    "ack" => 16,
    "urg" => 32,
    "ecn" => 64,
    "cwr" => 128
  }
  @pkt_types %{"host" => 0, "unicast" => 0, "broadcast" => 1, "multicast" => 2, "other" => 3}
  @dscp %{
    "cs0" => 0,
    "cs1" => 8,
    "cs2" => 16,
    "cs3" => 24,
    "cs4" => 32,
    "cs5" => 40,
    "cs6" => 48,
    "cs7" => 56,
    "af11" => 10,
    "af12" => 12,
    "af13" => 14,
    "af21" => 18,
    "af22" => 20,
    "af23" => 22,
    "af31" => 26,
    "af32" => 28,
    "af33" => 30,
    "af41" => 34,
    "af42" => 36,
    "af43" => 38,
    "ef" => 46,
    "va" => 44,
    "le" => 1,
    "df" => 0
  }
  @ecn %{"not-ect" => 0, "ect1" => 1, "ect0" => 2, "ce" => 3}
  @icmp_codes %{
    "net-unreachable" => 0,
    "host-unreachable" => 1,
    "prot-unreachable" => 2,
    "port-unreachable" => 3,
    "frag-needed" => 4,
    "net-prohibited" => 9,
    "host-prohibited" => 10,
    "admin-prohibited" => 13
  }
  @icmpv6_codes %{
    "no-route" => 0,
    "admin-prohibited" => 1,
    "addr-unreachable" => 3,
    "port-unreachable" => 4,
    "policy-fail" => 5,
    "reject-route" => 6
  }
  @icmpx_codes %{
    "no-route" => 0,
    "port-unreachable" => 1,
    "host-unreachable" => 2,
    "admin-prohibited" => 3
  }

  @doc """
  Compiles the statements of one rule for `family` (`:ip`, `:inet`, ...): `{:ok, exprs}`
  or `{:unsupported, reason}`.
  """
  def compile(family, statements) do
    ctx = %{family: family, l3: initial_l3(family), l4: nil, link: nil}

    {exprs, _ctx} =
      Enum.flat_map_reduce(statements, ctx, fn st, ctx -> statement(st, ctx) end)

    {front, rest} =
      Enum.reduce(exprs, {[], []}, fn
        {:prepend, d}, {f, r} -> {f ++ List.wrap(d), r}
        e, {f, r} -> {f, r ++ [e]}
      end)

    {:ok, front ++ rest}
  rescue
    e in Unsupported ->
      {:unsupported, e.message}

    # A JSON shape outside the subset shows up as a failed pattern or lookup.
    e ->
      {:unsupported,
       "#{inspect(e.__struct__)}: " <> (Exception.message(e) |> String.slice(0, 100))}
  end

  defp unsupported!(what), do: raise(Unsupported, what)

  defp initial_l3(:ip), do: :ip
  defp initial_l3(:ip6), do: :ip6
  defp initial_l3(_), do: nil

  # -- statements --------------------------------------------------------------------

  defp statement(%{"match" => %{"left" => l, "op" => op, "right" => r}}, ctx),
    do: match(l, op, r, ctx)

  defp statement(%{"accept" => nil}, ctx), do: {[Expr.immediate(:accept)], ctx}
  defp statement(%{"drop" => nil}, ctx), do: {[Expr.immediate(:drop)], ctx}
  defp statement(%{"continue" => nil}, ctx), do: {[Expr.immediate(:continue)], ctx}
  defp statement(%{"return" => nil}, ctx), do: {[Expr.immediate(:return)], ctx}
  defp statement(%{"jump" => %{"target" => t}}, ctx), do: {[Expr.immediate({:jump, t})], ctx}
  defp statement(%{"goto" => %{"target" => t}}, ctx), do: {[Expr.immediate({:goto, t})], ctx}
  defp statement(%{"counter" => nil}, ctx), do: {[Expr.counter()], ctx}

  defp statement(%{"counter" => %{"packets" => p, "bytes" => b}}, ctx),
    do: {[Expr.counter(packets: p, bytes: b)], ctx}

  defp statement(%{"counter" => name}, ctx) when is_binary(name),
    do: {[Expr.objref(:counter, name)], ctx}

  defp statement(%{"notrack" => nil}, ctx), do: {[Expr.notrack()], ctx}

  defp statement(%{"limit" => l}, ctx) do
    {rate, type} =
      case l["rate_unit"] do
        nil -> {l["rate"], :pkts}
        "packets" -> {l["rate"], :pkts}
        unit -> {l["rate"] * byte_unit(unit), :bytes}
      end

    burst =
      case {type, l["burst"], l["burst_unit"]} do
        {:pkts, nil, _} -> 5
        {:pkts, b, _} -> b
        {:bytes, nil, _} -> 0
        {:bytes, b, u} -> b * byte_unit(u || "bytes")
      end

    {[
       Expr.limit(rate, String.to_existing_atom(l["per"] || "second"),
         type: type,
         burst: burst,
         over: l["inv"] == true
       )
     ], ctx}
  end

  defp statement(%{"quota" => q}, ctx) do
    bytes = q["val"] * byte_unit(q["val_unit"] || "bytes")
    used = (q["used"] || 0) * byte_unit(q["used_unit"] || "bytes")
    {[Expr.quota(bytes, over: q["inv"] == true, consumed: used)], ctx}
  end

  defp statement(%{"reject" => r}, ctx) do
    r = r || %{}

    {deps, e} =
      case {r["type"], r["expr"]} do
        {nil, _} ->
          case {ctx.family, ctx.l3} do
            {_, :ip} -> {[], Expr.reject(:icmp_unreach, icmp_code: 3)}
            {_, :ip6} -> {[], Expr.reject(:icmp_unreach, icmp_code: 4)}
            _ -> {[], Expr.reject(:icmpx_unreach, icmp_code: 1)}
          end

        {"tcp reset", _} ->
          {:tcp, Expr.reject(:tcp_reset)}

        {"icmp", c} ->
          {:ip, Expr.reject(:icmp_unreach, icmp_code: Map.fetch!(@icmp_codes, c))}

        {"icmpv6", c} ->
          {:ip6, Expr.reject(:icmp_unreach, icmp_code: Map.fetch!(@icmpv6_codes, c))}

        {"icmpx", c} ->
          {[], Expr.reject(:icmpx_unreach, icmp_code: Map.fetch!(@icmpx_codes, c))}
      end

    # A statement's protocol dependency goes in front of the rule, as nft does it.
    case deps do
      [] ->
        {[e], ctx}

      :tcp ->
        {d, ctx} = l4_dep("tcp", ctx)
        {[{:prepend, d}, e], ctx}

      l3 ->
        {d, ctx} = dependency(Atom.to_string(l3), ctx)
        {[{:prepend, d}, e], ctx}
    end
  end

  defp statement(%{"log" => l}, ctx) do
    l = l || %{}
    if l["flags"], do: unsupported!("log flags")

    opts =
      [prefix: l["prefix"], snaplen: l["snaplen"], qthreshold: l["queue-threshold"]]
      |> Enum.reject(fn {_, v} -> v == nil end)

    opts =
      case {l["group"], l["level"]} do
        {nil, nil} -> [group: nil] ++ opts
        {g, nil} -> [group: g] ++ opts
        {nil, lvl} -> [group: nil, level: String.to_existing_atom(lvl)] ++ opts
      end

    {[Expr.log(opts)], ctx}
  end

  defp statement(%{"mangle" => %{"key" => %{"meta" => %{"key" => k}}, "value" => v}}, ctx)
       when not is_map(v) do
    type = Map.fetch!(@meta_types, k)
    {[Expr.immediate(typed(type, v)), Expr.meta_set(meta_key(k))], ctx}
  end

  defp statement(%{"mangle" => %{"key" => %{"ct" => %{"key" => k} = c}, "value" => v}}, ctx)
       when not is_map(v) do
    type = Map.fetch!(@ct_types, k)
    opts = if c["dir"], do: [direction: String.to_existing_atom(c["dir"])], else: []
    {[Expr.immediate(typed(type, v)), Expr.ct_set(ct_key(k), opts)], ctx}
  end

  defp statement(%{"masquerade" => m}, ctx), do: port_nat(:masquerade, m || %{}, ctx)
  defp statement(%{"redirect" => m}, ctx), do: port_nat(:redirect, m || %{}, ctx)

  defp statement(%{"queue" => q}, ctx) do
    flags = List.wrap(q["flags"]) |> Enum.map(&String.to_existing_atom/1)

    {num, total} =
      case q["num"] do
        %{"range" => [a, b]} -> {a, b - a + 1}
        n -> {n || 0, nil}
      end

    opts = [num: num, flags: flags] ++ if(total, do: [total: total], else: [])
    {[Expr.queue(opts)], ctx}
  end

  defp statement(%{"vmap" => %{"key" => key, "data" => %{"set" => pairs}}}, ctx) do
    {load, type, ctx} = selector(key, ctx)
    check_set_type!(type)
    {loads, _} = realize(load, type)

    pairs =
      Enum.map(pairs, fn [k, v] -> {set_value(type, k), verdict(v)} end)

    {loads ++ [Expr.vmap_literal(pairs, type)], ctx}
  end

  defp statement(%{"vmap" => %{"key" => key, "data" => "@" <> name}}, ctx) do
    {load, type, ctx} = selector(key, ctx)
    {loads, _} = realize(load, type)
    {loads ++ [Expr.lookup(name, dreg: 0)], ctx}
  end

  defp statement(%{} = st, _ctx), do: unsupported!("statement #{st |> Map.keys() |> hd()}")

  defp byte_unit("bytes"), do: 1
  defp byte_unit("kbytes"), do: 1024
  defp byte_unit("mbytes"), do: 1024 * 1024
  defp byte_unit(u), do: unsupported!("unit #{u}")

  defp verdict(%{"accept" => nil}), do: :accept
  defp verdict(%{"drop" => nil}), do: :drop
  defp verdict(%{"continue" => nil}), do: :continue
  defp verdict(%{"return" => nil}), do: :return
  defp verdict(%{"jump" => %{"target" => t}}), do: {:jump, t}
  defp verdict(%{"goto" => %{"target" => t}}), do: {:goto, t}

  defp port_nat(kind, m, ctx) do
    flags =
      List.wrap(m["flags"])
      |> Enum.map(&(&1 |> String.replace("-", "_") |> String.to_existing_atom()))

    opts =
      case m["port"] do
        nil -> [flags: flags]
        %{"range" => [a, b]} -> [flags: flags, port_min: a, port_max: b]
        p when is_integer(p) -> [flags: flags, port_min: p]
        _ -> unsupported!("#{kind} port expression")
      end

    exprs =
      case kind do
        :masquerade -> Expr.masquerade(opts)
        :redirect -> Expr.redirect(opts)
      end

    {List.wrap(exprs), ctx}
  end

  # -- matches -------------------------------------------------------------------------

  defp match(left, op, right, ctx) do
    {load, type, ctx} = selector(left, ctx)
    op = op_atom(op)
    {cmp, ctx} = compare(load, type, op, right, ctx)
    {cmp, ctx}
  end

  defp op_atom("=="), do: :eq
  defp op_atom("!="), do: :neq
  defp op_atom("<"), do: :lt
  defp op_atom(">"), do: :gt
  defp op_atom("<="), do: :lte
  defp op_atom(">="), do: :gte
  defp op_atom("in"), do: :in
  defp op_atom(o), do: unsupported!("operator #{o}")

  # The load expressions, the value type, the updated context.
  defp selector(%{"payload" => %{"protocol" => proto, "field" => field}}, ctx) do
    {base, off, len, type} =
      Map.get(@fields, {proto, field}) || unsupported!("payload #{proto} #{field}")

    {deps, ctx} = dependency(proto, ctx)
    {deps ++ [{:payload, base, off, len}], type, ctx}
  end

  defp selector(%{"meta" => %{"key" => k}}, ctx) do
    type = Map.get(@meta_types, k) || unsupported!("meta #{k}")
    {[Expr.meta(meta_key(k))], type, ctx}
  end

  defp selector(%{"ct" => %{"key" => k} = c}, ctx) do
    type = Map.get(@ct_types, k) || unsupported!("ct #{k}")
    opts = if c["dir"], do: [direction: String.to_existing_atom(c["dir"])], else: []
    {[Expr.ct(ct_key(k), opts)], type, ctx}
  end

  defp selector(other, _ctx), do: unsupported!("selector #{other |> Map.keys() |> hd()}")

  defp meta_key(k), do: Map.get(@meta_keys, k) || String.to_existing_atom(k)
  defp ct_key(k), do: Map.get(@ct_keys, k) || String.to_existing_atom(k)

  # nft's implicit dependencies (payload_gen_dependency).
  defp dependency(proto, ctx) when proto in ["ip", "ip6"] do
    l3 = String.to_existing_atom(proto)

    cond do
      ctx.l3 == l3 ->
        {[], ctx}

      ctx.family == :inet ->
        {Expr.match(:meta_nfproto, if(l3 == :ip, do: :ipv4, else: :ipv6)), %{ctx | l3: l3}}

      ctx.family in [:bridge, :netdev] ->
        {Expr.match(:meta_protocol, if(l3 == :ip, do: :ip, else: :ip6)), %{ctx | l3: l3}}

      true ->
        unsupported!("#{proto} header in a #{ctx.family} table")
    end
  end

  defp dependency("ether", %{link: :ether} = ctx), do: {[], ctx}

  defp dependency("ether", ctx) when ctx.family in [:ip, :ip6, :inet, :netdev],
    do: {Expr.match(:meta_iiftype, 1), %{ctx | link: :ether}}

  defp dependency("ether", ctx), do: {[], ctx}
  defp dependency("th", ctx), do: {[], ctx}

  defp dependency(proto, ctx) do
    case Map.fetch(@l4, proto) do
      {:ok, _} ->
        {l3deps, ctx} =
          cond do
            proto in ["icmp", "igmp"] and ctx.family in [:inet, :bridge, :netdev] ->
              dependency("ip", ctx)

            proto == "icmpv6" and ctx.family in [:inet, :bridge, :netdev] ->
              dependency("ip6", ctx)

            true ->
              {[], ctx}
          end

        {l4deps, ctx} = l4_dep(proto, ctx)
        {l3deps ++ l4deps, ctx}

      :error ->
        unsupported!("protocol #{proto}")
    end
  end

  defp l4_dep(proto, ctx) do
    n = Map.fetch!(@l4, proto)

    if ctx.l4 == n,
      do: {[], ctx},
      else: {[Expr.meta(:l4proto), Expr.cmp(:eq, <<n>>)], %{ctx | l4: n}}
  end

  # -- comparisons -------------------------------------------------------------------

  defp compare(load, _type, op, "@" <> set, ctx) do
    {loads, _} = realize(load, nil)
    flags = if op == :neq, do: [:inv], else: []
    {loads ++ [Expr.lookup(set, flags: flags)], ctx}
  end

  defp compare(load, type, op, %{"set" => items}, ctx) when op in [:eq, :neq, :in] do
    check_set_type!(type)
    {loads, _} = realize(load, nil)
    values = Enum.map(items, &set_value(type, &1))

    {loads ++ [Expr.set_literal(values, type, inv: op == :neq)],
     context_from(load, type, ctx, nil)}
  end

  # Host-order values are converted to big-endian before an ordered comparison (the
  # kernel compares bytes), as nft does.
  @host_types [
    :mark,
    :uid,
    :gid,
    :len32,
    :msecs,
    :len64,
    :classid,
    :devgroup,
    :iface_index,
    :realm
  ]

  defp compare(load, type, op, %{"range" => [a, b]}, ctx)
       when op in [:eq, :neq] and type in @host_types do
    {loads, _} = realize(load, type)
    {conv, lo, hi} = hton(type, a, b)

    exprs =
      case op do
        :eq -> [Expr.cmp(:gte, lo), Expr.cmp(:lte, hi)]
        :neq -> [Expr.range(:neq, lo, hi)]
      end

    {loads ++ [conv | exprs], ctx}
  end

  defp compare(load, type, op, value, ctx)
       when op in [:lt, :gt, :lte, :gte] and type in @host_types do
    {loads, _} = realize(load, type)
    {conv, v, _} = hton(type, value, value)
    {loads ++ [conv, Expr.cmp(op, v)], ctx}
  end

  defp compare(load, type, op, %{"range" => [a, b]}, ctx) when op in [:eq, :neq] do
    {loads, shift} = realize(load, type)
    lo = field_value(type, a, load, shift)
    hi = field_value(type, b, load, shift)

    exprs =
      case op do
        :eq -> [Expr.cmp(:gte, lo), Expr.cmp(:lte, hi)]
        :neq -> [Expr.range(:neq, lo, hi)]
      end

    {loads ++ exprs, ctx}
  end

  defp compare(load, type, op, %{"prefix" => %{"addr" => addr, "len" => len}}, ctx)
       when type in [:ipv4_addr, :ipv6_addr] and op in [:eq, :neq] do
    [{:payload, base, off, bits} | _] = Enum.reverse(load)
    deps = Enum.drop(load, -1)
    value = "#{addr}/#{len}"

    exprs =
      case Type.canonical(type, value, interval: true) do
        {:ok, %Linx.IP.Subnet{address: ip, prefix: p}} when rem(p, 8) == 0 and p > 0 ->
          [
            Expr.payload(base, div(off, 8), div(p, 8)),
            Expr.cmp(op, binary_part(ip.bytes, 0, div(p, 8)))
          ]

        {:ok, %Linx.IP.Subnet{address: ip, prefix: p}} ->
          total = div(bits, 8)
          mask = <<-1 <<< (bits - p)::size(bits)>>

          [
            Expr.payload(base, div(off, 8), total),
            Expr.bitwise(mask, <<0::size(bits)>>),
            Expr.cmp(op, ip.bytes)
          ]
      end

    {deps ++ exprs, ctx}
  end

  defp compare(load, type, op, value, ctx)
       when type in [:ct_state, :ct_status, :tcp_flag] and op in [:eq, :in] and
              (is_list(value) or op == :in) do
    {loads, _} = realize(load, type)
    bits = flag_bits(type, List.wrap(value))
    len = if type == :tcp_flag, do: 1, else: 4
    mask = if len == 1, do: <<bits::8>>, else: <<bits::native-32>>
    zero = <<0::size(len * 8)>>
    {loads ++ [Expr.bitwise(mask, zero), Expr.cmp(:neq, zero)], ctx}
  end

  defp compare(load, type, op, value, ctx)
       when op in [:eq, :neq, :lt, :gt, :lte, :gte] and not is_map(value) do
    {loads, shift} = realize(load, type)
    v = field_value(type, value, load, shift)
    {loads ++ [Expr.cmp(op, v)], context_from(load, type, ctx, value)}
  end

  defp compare(_load, _type, op, value, _ctx),
    do: unsupported!("comparison #{op} #{inspect(value) |> String.slice(0, 40)}")

  # A match on a protocol field sets the context nft uses for later dependencies.
  defp context_from(load, type, ctx, value) when is_binary(value) or is_integer(value) do
    case {List.last(load), type} do
      {%Expr{name: :meta, data: %{key: :l4proto}}, _} ->
        %{ctx | l4: Type.protocol(proto_atom(value))}

      {{:payload, :network, 72, 8}, _} ->
        %{ctx | l4: Type.protocol(proto_atom(value))}

      {{:payload, :network, 48, 8}, _} ->
        %{ctx | l4: Type.protocol(proto_atom(value))}

      {%Expr{name: :meta, data: %{key: :nfproto}}, _} ->
        %{ctx | l3: l3_of(value)}

      {%Expr{name: :meta, data: %{key: :protocol}}, _} ->
        %{ctx | l3: l3_of(value)}

      {{:payload, :link, 96, 16}, _} ->
        %{ctx | l3: l3_of(value)}

      {%Expr{name: :meta, data: %{key: :iiftype}}, _} ->
        if value in ["ether", 1], do: %{ctx | link: :ether}, else: ctx

      _ ->
        ctx
    end
  end

  defp context_from(_load, _type, ctx, _value), do: ctx

  defp l3_of(v) when v in ["ipv4", "ip"], do: :ip
  defp l3_of(v) when v in ["ipv6", "ip6"], do: :ip6
  defp l3_of(_), do: nil

  defp hton(type, a, b) do
    size = if type == :len64, do: 8, else: 4
    scale = if type == :msecs, do: 1000, else: 1
    ia = int_value(:int, set_value(type, a)) * scale
    ib = int_value(:int, set_value(type, b)) * scale
    {Expr.byteorder(:hton, size, size), <<ia::size(size * 8)>>, <<ib::size(size * 8)>>}
  end

  # Turns {:payload, base, bit_off, bit_len} into real loads (plus a mask for sub-byte
  # fields, as nft does) and returns the shift of the value within the loaded bytes.
  defp realize(load, _type) do
    Enum.map_reduce(load, 0, fn
      {:payload, base, off, len}, _ ->
        byte_off = div(off, 8)
        byte_end = div(off + len + 7, 8)
        nbytes = byte_end - byte_off
        shift = byte_end * 8 - (off + len)

        if rem(off, 8) == 0 and rem(len, 8) == 0 do
          {Expr.payload(base, byte_off, nbytes), 0}
        else
          bits = nbytes * 8
          mask = <<((1 <<< len) - 1) <<< shift::size(bits)>>
          {[Expr.payload(base, byte_off, nbytes), Expr.bitwise(mask, <<0::size(bits)>>)], shift}
        end

      e, shift ->
        {e, shift}
    end)
    |> then(fn {exprs, shift} -> {List.flatten(exprs), shift} end)
  end

  # The register bytes of a value for a field: sub-byte fields are shifted into place
  # and sized to the bytes loaded.
  defp field_value(type, value, load, shift) do
    case List.last(load) do
      {:payload, _base, off, len} when rem(off, 8) != 0 or rem(len, 8) != 0 ->
        nbytes = div(off + len + 7, 8) - div(off, 8)
        <<int_value(type, value) <<< shift::size(nbytes * 8)>>

      {:payload, _base, _off, len} when type in [:int, :dscp, :ecn] ->
        <<int_value(type, value)::size(len)>>

      _ ->
        typed(type, value)
    end
  end

  defp int_value(:dscp, v) when is_binary(v), do: Map.get(@dscp, v) || parse_int(v)
  defp int_value(:ecn, v) when is_binary(v), do: Map.get(@ecn, v) || parse_int(v)
  defp int_value(_, v) when is_integer(v), do: v
  defp int_value(_, v) when is_binary(v), do: parse_int(v)

  defp parse_int("0x" <> hex), do: String.to_integer(hex, 16)
  defp parse_int(s), do: String.to_integer(s)

  defp typed(:len32, v), do: <<int_value(:int, v)::native-32>>
  defp typed(:len16, v), do: <<int_value(:int, v)::native-16>>
  defp typed(:len64, v), do: <<int_value(:int, v)::native-64>>
  defp typed(:bit8, v), do: <<int_value(:int, v)::8>>
  defp typed(:be32, v), do: <<int_value(:int, v)::32>>
  defp typed(:msecs, v) when is_integer(v), do: <<v * 1000::native-32>>
  defp typed(:msecs, v), do: unsupported!("time #{inspect(v)}")
  defp typed(:int, v), do: unsupported!("untyped integer #{inspect(v)}")
  defp typed(type, v), do: Type.encode!(type, set_value(type, v))

  defp check_set_type!(type) do
    if not Type.valid?(type), do: unsupported!("set of #{inspect(type)}")
  end

  # JSON values to what Linx.Netfilter.Type takes.
  defp set_value(type, %{"range" => [a, b]}), do: {set_value(type, a), set_value(type, b)}
  defp set_value(_type, %{"prefix" => %{"addr" => a, "len" => l}}), do: "#{a}/#{l}"
  defp set_value(:inet_service, v) when is_binary(v), do: service(v)
  defp set_value(:inet_proto, v) when is_binary(v), do: proto_atom(v)

  defp set_value(t, v) when t in [:icmp_type, :icmpv6_type] and is_binary(v),
    do: v |> String.replace("-", "_") |> String.to_existing_atom()

  defp set_value(:nfproto, v) when is_binary(v), do: String.to_existing_atom(v)
  defp set_value(:ether_type, v) when is_binary(v), do: String.to_existing_atom(v)
  defp set_value(:ct_state, v) when is_binary(v), do: String.to_existing_atom(v)
  defp set_value(:ct_dir, v) when is_binary(v), do: Map.fetch!(@ct_dirs, v)
  defp set_value(:pkt_type, v) when is_binary(v), do: Map.fetch!(@pkt_types, v)
  defp set_value(:mark, "0x" <> _ = v), do: parse_int(v)
  defp set_value(:uid, v) when is_binary(v), do: unsupported!("user name #{v}")
  defp set_value(:gid, v) when is_binary(v), do: unsupported!("group name #{v}")
  defp set_value(:iface_type, "ether"), do: 1
  defp set_value(:iface_type, "loopback"), do: 772
  defp set_value(:classid, v) when is_binary(v), do: classid(v)
  defp set_value(_type, v), do: v

  defp classid(v) do
    case String.split(v, ":") do
      [a, b] -> String.to_integer(a, 16) <<< 16 ||| String.to_integer(b, 16)
      _ -> unsupported!("classid #{v}")
    end
  end

  defp flag_bits(:ct_state, names),
    do: Type.ct_state_bits(Enum.map(names, &String.to_existing_atom/1))

  defp flag_bits(:ct_status, names),
    do: Enum.reduce(names, 0, &(Map.fetch!(@ct_status, &1) ||| &2))

  defp flag_bits(:tcp_flag, names),
    do: Enum.reduce(names, 0, &(Map.fetch!(@tcp_flags, &1) ||| &2))

  defp proto_atom(v) when is_integer(v), do: v

  defp proto_atom(v) do
    case Integer.parse(v) do
      {n, ""} -> n
      _ -> String.to_existing_atom(v)
    end
  end

  @services (case File.read("/etc/services") do
               {:ok, text} ->
                 for line <- String.split(text, "\n"),
                     [name, port_proto | aliases] <- [String.split(line, ~r/\s+/, trim: true)],
                     not String.starts_with?(name, "#"),
                     [port, _] <- [String.split(port_proto, "/")],
                     n <- [name | Enum.take_while(aliases, &(not String.starts_with?(&1, "#")))],
                     into: %{},
                     do: {n, String.to_integer(port)}

               _ ->
                 %{}
             end)

  defp service(v) do
    case Integer.parse(v) do
      {n, ""} -> n
      _ -> Map.get(@services, v) || unsupported!("service #{v}")
    end
  end
end
