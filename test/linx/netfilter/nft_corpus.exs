defmodule Linx.Test.NftCorpus do
  @moduledoc false
  # The oracle corpus as Linx models (see oracle_test.exs for the listings nft prints
  # for them). Each model states nft's implicit protocol dependencies explicitly.

  alias Linx.Netfilter.{Expr, Object, Ruleset, Vmap}
  alias Linx.Netfilter.Map, as: NMap
  alias Linx.Netfilter.Set, as: NSet

  defp rules(rs, ref, chain, list),
    do: Enum.reduce(list, rs, fn r, rs -> Ruleset.add_rule!(rs, ref, chain, r) end)

  defp tcp, do: Expr.match(:meta_l4proto, :tcp)
  defp udp, do: Expr.match(:meta_l4proto, :udp)
  defp ipv4, do: Expr.match(:meta_nfproto, :ipv4)
  defp ipv6, do: Expr.match(:meta_nfproto, :ipv6)

  def filter do
    Ruleset.new()
    |> Ruleset.add_table!(:inet, "filter")
    |> Ruleset.add_chain!("filter", "input",
      type: :filter,
      hook: :input,
      priority: :filter,
      policy: :drop
    )
    |> Ruleset.add_chain!("filter", "trusted")
    |> rules("filter", "input", [
      Expr.match(:ct_state, [:established, :related]) ++ [:accept],
      Expr.match(:ct_state, :invalid) ++ [:drop],
      Expr.match(:meta_iifname, "lo") ++ [:accept],
      tcp() ++ Expr.match(:tcp_dport, 22) ++ [Expr.counter(), :accept],
      tcp() ++ Expr.match(:tcp_dport, [80, 443]) ++ [:accept],
      udp() ++ Expr.match(:udp_dport, 1000..2000) ++ [:accept],
      udp() ++ Expr.match(:udp_dport, :neq, 5000..5010) ++ [:accept],
      ipv4() ++ Expr.match(:ip_saddr, "10.0.0.0/8") ++ [{:jump, "trusted"}],
      ipv4() ++ Expr.match(:ip_saddr, "172.16.0.0/12") ++ [:accept],
      ipv6() ++ Expr.match(:ip6_saddr, "fd00::/8") ++ [{:goto, "trusted"}],
      Expr.match(:meta_mark, 0x10) ++ [:accept],
      [
        Expr.meta(:mark),
        Expr.bitwise(<<0xFF00::native-32>>, <<0::32>>),
        Expr.cmp(:eq, {:mark, 0x100}),
        :drop
      ],
      Expr.match(:ct_mark, 0x2A) ++ [:return],
      ipv4() ++
        Expr.match(:meta_l4proto, :icmp) ++
        Expr.match(:icmp_type, :echo_request) ++ [Expr.limit(5, :second), :accept],
      [Expr.limit(100, :minute, burst: 10, over: true), :drop],
      [Expr.limit(1_048_576, :second, type: :bytes), :accept],
      [Expr.quota(1_000_000, over: true), :drop],
      [Expr.quota(5000), :accept],
      [Expr.log(group: nil, prefix: "in: ", level: :info, flags: [:tcp_seq])],
      [Expr.log(prefix: "nflog ", group: 2)],
      tcp() ++ [Expr.reject(:tcp_reset)],
      [Expr.reject(:icmpx_unreach)],
      [Expr.reject(:icmpx_unreach, icmp_code: 2)]
    ])
    |> rules("filter", "trusted", [
      [Expr.immediate(<<1::native-32>>), Expr.meta_set(:mark)],
      [Expr.immediate(<<2::native-32>>), Expr.ct_set(:mark)],
      [Expr.counter()],
      [:continue]
    ])
  end

  def nat do
    ref = {:ip, "nat"}

    Ruleset.new()
    |> Ruleset.add_table!(:ip, "nat")
    |> Ruleset.add_chain!(ref, "prerouting", type: :nat, hook: :prerouting, priority: :dstnat)
    |> Ruleset.add_chain!(ref, "postrouting", type: :nat, hook: :postrouting, priority: :srcnat)
    |> rules(ref, "prerouting", [
      tcp() ++ Expr.match(:tcp_dport, 80) ++ Expr.dnat_to("10.0.0.2", 8080),
      tcp() ++ Expr.match(:tcp_dport, 81) ++ Expr.redirect(port: 8081),
      udp() ++ Expr.match(:udp_dport, 53) ++ Expr.dnat_to({10, 0, 0, 3})
    ])
    |> rules(ref, "postrouting", [
      Expr.match(:meta_oifname, "eth0") ++ [Expr.masquerade()],
      Expr.match(:meta_oifname, "eth1") ++ [Expr.masquerade(flags: [:random])],
      Expr.match(:ip_saddr, "192.168.0.0/16") ++ Expr.snat_to("1.2.3.4")
    ])
  end

  def sets do
    ref = {:ip, "sets"}

    Ruleset.new()
    |> Ruleset.add_table!(:ip, "sets")
    |> Ruleset.add_set!(
      ref,
      NSet.new!("blocked",
        key_type: :ipv4_addr,
        flags: [:interval],
        elements: ["10.0.0.0/8", {"172.16.0.1", "172.16.0.9"}, "192.168.1.7"]
      )
    )
    |> Ruleset.add_set!(ref, NSet.new!("ports", key_type: :inet_service, elements: [22, 80, 443]))
    |> Ruleset.add_set!(
      ref,
      NSet.new!("pairs",
        key_type: {:concat, [:ipv4_addr, :inet_service]},
        elements: [["10.0.0.1", 22], ["10.0.0.2", 80]]
      )
    )
    |> Ruleset.add_set!(
      ref,
      NSet.new!("ranges",
        key_type: {:concat, [:ipv4_addr, :inet_service]},
        flags: [:interval],
        elements: [["10.0.0.0/24", 22], ["10.1.0.1", 1000..2000]]
      )
    )
    |> Ruleset.add_set!(ref, NSet.new!("ifaces", key_type: :ifname, elements: ["eth0", "veth1"]))
    |> Ruleset.add_set!(ref, NSet.new!("marks", key_type: :mark, elements: [1, 0x10]))
    |> Ruleset.add_set!(
      ref,
      NSet.new!("dyn",
        key_type: :ipv4_addr,
        flags: [:dynamic, :timeout],
        timeout: 60_000,
        size: 65_535
      )
    )
    |> Ruleset.add_map!(
      ref,
      NMap.new!("backends",
        key_type: :inet_service,
        data_type: :ipv4_addr,
        elements: [{80, "10.0.0.2"}, {443, "10.0.0.3"}]
      )
    )
    |> Ruleset.add_map!(
      ref,
      Vmap.new!("dispatch",
        key_type: :inet_service,
        elements: [{22, :accept}, {23, :drop}, {25, {:jump, "mail"}}]
      )
    )
    |> Ruleset.add_chain!(ref, "forward", type: :filter, hook: :forward, priority: :filter)
    |> Ruleset.add_chain!(ref, "mail")
    |> rules(ref, "forward", [
      [Expr.payload(:ip_saddr), Expr.lookup("blocked"), :drop],
      tcp() ++ [Expr.payload(:tcp_dport), Expr.lookup("ports"), :accept],
      tcp() ++
        [
          Expr.payload(:ip_saddr),
          Expr.payload(:tcp_dport, dreg: 9),
          Expr.lookup("pairs"),
          :accept
        ],
      tcp() ++
        [
          Expr.payload(:ip_saddr),
          Expr.payload(:tcp_dport, dreg: 9),
          Expr.lookup("ranges"),
          :accept
        ],
      [Expr.meta(:iifname), Expr.lookup("ifaces"), :accept],
      [Expr.meta(:mark), Expr.lookup("marks"), :accept],
      tcp() ++ [Expr.payload(:tcp_dport), Expr.lookup("dispatch", dreg: 0)],
      [Expr.payload(:ip_saddr), Expr.dynset(:update, "dyn", exprs: [Expr.counter()])],
      [Expr.payload(:ip_daddr), Expr.dynset(:add, "dyn", exprs: [Expr.limit(10, :second)])],
      tcp() ++
        [
          Expr.payload(:tcp_dport),
          Expr.vmap_literal([{8080, :accept}, {8081, :drop}], :inet_service)
        ],
      Expr.match(:ip_saddr, :neq, ["10.9.0.1", "10.9.0.2"]) ++ [Expr.counter()]
    ])
    |> rules(ref, "mail", [[:accept]])
  end

  def objects do
    ref = {:ip, "objs"}

    Ruleset.new()
    |> Ruleset.add_table!(:ip, "objs")
    |> Ruleset.add_object!(ref, Object.new!(:counter, "http"))
    |> Ruleset.add_object!(ref, Object.new!(:quota, "month", %{bytes: 10_000_000}))
    |> Ruleset.add_object!(ref, Object.new!(:limit, "slow", %{rate: 3, unit: :minute}))
    |> Ruleset.add_object!(
      ref,
      Object.new!(:ct_helper, "ftp", %{type: "ftp", protocol: :tcp, l3proto: :ip})
    )
    |> Ruleset.add_object!(
      ref,
      Object.new!(:ct_timeout, "short", %{
        protocol: :tcp,
        l3proto: :ip,
        policy: %{established: 100, close: 4}
      })
    )
    |> Ruleset.add_object!(
      ref,
      Object.new!(:ct_expectation, "sip", %{
        protocol: :tcp,
        l3proto: :ip,
        dport: 5060,
        timeout: 30_000,
        size: 8
      })
    )
    |> Ruleset.add_object!(
      ref,
      Object.new!(:synproxy, "sp", %{mss: 1460, wscale: 7, flags: [:timestamp, :sack_perm]})
    )
    |> Ruleset.add_chain!(ref, "c", type: :filter, hook: :forward, priority: :filter)
    |> rules(ref, "c", [
      tcp() ++ Expr.match(:tcp_dport, 80) ++ [Expr.objref(:counter, "http")],
      [Expr.objref(:quota, "month"), Expr.objref(:limit, "slow")],
      tcp() ++ Expr.match(:tcp_dport, 21) ++ [Expr.objref(:ct_helper, "ftp")],
      tcp() ++ Expr.match(:tcp_dport, 22) ++ [Expr.objref(:ct_timeout, "short")],
      tcp() ++ Expr.match(:tcp_dport, 5060) ++ [Expr.objref(:ct_expectation, "sip")],
      tcp() ++ Expr.match(:tcp_dport, 443) ++ [Expr.objref(:synproxy, "sp")]
    ])
  end

  def misc do
    Ruleset.new()
    |> Ruleset.add_table!(:inet, "misc")
    |> Ruleset.add_chain!("misc", "pre", type: :filter, hook: :prerouting, priority: :raw)
    |> rules("misc", "pre", [
      [Expr.fib(:addrtype, [:daddr]), Expr.cmp(:eq, {:fib_addrtype, 2}), :accept],
      [Expr.fib(:oif, [:saddr, :iif]), Expr.cmp(:eq, {:iface_index, 0}), :drop],
      ipv4() ++
        [
          Expr.payload(:ip_saddr, dreg: 2),
          Expr.hash(4, sreg: 2, len: 4, seed: 0x1234),
          Expr.cmp(:eq, <<0::native-32>>),
          :accept
        ],
      [Expr.hash(2, type: :sym), Expr.cmp(:eq, <<1::native-32>>), :accept],
      [Expr.numgen(:inc, 2), Expr.cmp(:eq, <<0::native-32>>), :accept],
      [Expr.numgen(:random, 10, offset: 5), Expr.cmp(:eq, <<7::native-32>>), :accept],
      [Expr.socket(:transparent), Expr.cmp(:eq, <<1>>), :accept],
      ipv6() ++ [Expr.exthdr(:ipv6, 0, 0, 1, present: true), Expr.cmp(:eq, <<1>>), :accept],
      [Expr.exthdr(:tcpopt, 2, 2, 2), Expr.cmp(:eq, <<1460::16>>), :accept],
      Expr.match(:ct_state, :new) ++ [Expr.notrack()],
      [Expr.immediate(<<1>>), Expr.meta_set(:nftrace)],
      [Expr.immediate(<<0x10002::native-32>>), Expr.meta_set(:priority)],
      ipv4() ++
        [
          Expr.payload(:network, 1, 1),
          Expr.bitwise(<<0xFC>>, <<0>>),
          Expr.cmp(:eq, <<0xB8>>),
          :accept
        ],
      ipv6() ++ Expr.match(:ip6_hoplimit, 1) ++ [:drop],
      ipv4() ++ Expr.match(:ip_ttl, 64) ++ [:accept],
      tcp() ++
        [
          Expr.payload(:tcp_flags),
          Expr.bitwise(<<0x17>>, <<0>>),
          Expr.cmp(:eq, <<0x02>>),
          :accept
        ],
      Expr.match(:meta_iiftype, 1) ++ Expr.match(:ether_saddr, "02:00:00:00:00:01") ++ [:accept],
      Expr.match(:meta_l4proto, [:tcp, :udp]) ++ [:accept],
      Expr.match(:ct_direction, 0) ++ [:accept],
      Expr.match(:meta_pkttype, :broadcast) ++ [:drop]
    ])
  end
end
