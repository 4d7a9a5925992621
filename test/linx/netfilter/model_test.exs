defmodule Linx.Netfilter.ModelTest do
  # The value model: constructors, defaults, validation errors, Inspect. Pure.
  use ExUnit.Case, async: true

  alias Linx.Netfilter.{Chain, Expr, Flowtable, Object, Rule, Ruleset, Table, Type, Verdict, Vmap}
  alias Linx.Netfilter.Map, as: NMap
  alias Linx.Netfilter.Set, as: NSet

  doctest Linx.Netfilter.Verdict
  doctest Linx.Netfilter.Type
  doctest Linx.Netfilter.Expr
  doctest Linx.Netlink.Nfnl.Codec

  describe "Verdict" do
    test "constructors and wire-independent shape" do
      assert Verdict.accept() == %Verdict{kind: :accept}
      assert Verdict.drop().kind == :drop
      assert Verdict.continue().kind == :continue
      assert Verdict.return().kind == :return
      assert Verdict.goto("c") == %Verdict{kind: :goto, target: "c"}
      assert Verdict.queue(7) == %Verdict{kind: :queue, target: 7}
      assert {:ok, %Verdict{kind: :accept}} = Verdict.new(%Verdict{kind: :accept})
    end

    test "bad verdicts" do
      for bad <- [:bogus, {:jump, ""}, {:jump, :atom}, {:queue, 70_000}, {:goto, nil}, "accept"] do
        assert {:error, {:bad_verdict, ^bad}} = Verdict.new(bad)
      end

      refute Verdict.valid?(%Verdict{kind: :jump, target: nil})
      assert_raise ArgumentError, ~r/invalid verdict/, fn -> Verdict.jump("") end
    end
  end

  describe "Expr" do
    test "the 0.2 constructors build kernel-named expressions" do
      assert %Expr{name: :immediate, data: %Verdict{kind: :accept}} = Expr.immediate(:accept)

      assert %Expr{name: :immediate, data: %{dreg: 2, data: <<1, 2>>}} =
               Expr.immediate(<<1, 2>>, dreg: 2)

      assert Expr.verdict?(Expr.immediate({:jump, "x"}))
      assert Expr.verdict?(%Expr{name: :immediate, data: %{dreg: 0, value: :accept}})
      refute Expr.verdict?(Expr.immediate(<<1>>))

      assert Expr.cmp(:gte, <<1>>, sreg: 2).data == %{sreg: 2, op: :gte, data: <<1>>}
      assert Expr.payload(:network, 12, 4).data == %{dreg: 1, base: :network, offset: 12, len: 4}
      assert Expr.payload(:tcp_dport).data == %{dreg: 1, base: :transport, offset: 2, len: 2}
      assert Expr.meta(:iifname, dreg: 3).data == %{dreg: 3, key: :iifname}
      assert Expr.bitwise(<<255, 0>>, <<0, 0>>).data.len == 2
      assert Expr.ct(:state).data == %{dreg: 1, key: :state}
      assert Expr.ct(:proto_dst, direction: :reply).data.direction == :reply
      assert Expr.lookup("s", flags: [:inv]).data == %{set: "s", sreg: 1, flags: [:inv]}
      assert Expr.lookup("vm", dreg: 0).data.dreg == 0
      assert Expr.reject().data == %{type: :icmp_unreach, icmp_code: 3}
      assert Expr.reject(:tcp_reset).data == %{type: :tcp_reset}
      assert Expr.counter().data == %{packets: 0, bytes: 0}
      assert Expr.log().data == %{group: 5000}
      assert Expr.log(group: nil).data == %{level: :warn}
      assert Expr.log(level: :info, flags: [:uid]).data == %{level: :info, flags: [:uid]}

      assert [%Expr{name: :immediate}, %Expr{name: :immediate}, %Expr{name: :nat} = nat] =
               Expr.dnat_to({10, 0, 0, 2}, 8080)

      assert nat.data == %{
               type: :dnat,
               family: :ip,
               reg_addr_min: 1,
               reg_addr_max: 1,
               reg_proto_min: 2,
               reg_proto_max: 2,
               flags: [:map_ips, :proto_specified]
             }

      assert [
               %Expr{data: %{data: <<0xFD00::16, 0::96, 1::16>>}},
               %Expr{name: :nat, data: %{family: :ip6}}
             ] =
               Expr.snat_to("fd00::1")

      assert %Expr{name: :masq, data: %{}} = Expr.masquerade()
      assert [_, _, %Expr{name: :masq}] = Expr.masquerade(port_min: 1, port_max: 2)
      assert [_, %Expr{name: :redir, data: %{reg_proto_min: 1}}] = Expr.redirect(port: 8080)

      assert %Expr{name: :__anon_set, data: %{elements: [22, 80]}} =
               Expr.set_literal([22, 80, 22], :inet_service)
    end

    test "expressions 0.2 lacked" do
      assert Expr.limit(10, :second).data == %{rate: 10, unit: 1, burst: 5, type: :pkts}
      assert Expr.limit(1, :minute, type: :bytes, over: true).data.flags == [:inv]
      assert Expr.quota(100).data == %{bytes: 100, consumed: 0}

      assert Expr.dynset(:add, "s", timeout: 1000, exprs: [Expr.counter()]).data.exprs == [
               Expr.counter()
             ]

      assert Expr.objref(:counter, "c").data == %{type: :counter, name: "c"}
      assert Expr.meta_set(:mark).data == %{key: :mark, sreg: 1}
      assert Expr.ct_set(:mark, sreg: 2).data == %{key: :mark, sreg: 2}
      assert Expr.log(level: :debug).data.level == :debug
      assert Expr.queue(num: 3, flags: [:bypass]).data == %{num: 3, flags: [:bypass]}
      assert Expr.fib(:oif, [:iif, :daddr]).data.flags == [:daddr, :iif]
      assert Expr.numgen(:inc, 2).data == %{dreg: 1, modulus: 2, type: :inc}
      assert Expr.hash(4, type: :sym).data == %{dreg: 1, modulus: 4, type: :sym}
      assert Expr.socket(:transparent).data == %{key: :transparent, dreg: 1}
      assert Expr.exthdr(:tcpopt, 2, 2, 2).data.op == :tcpopt
      assert Expr.range(:eq, {:inet_service, 1}, {:inet_service, 9}).data.to == <<0, 9>>

      assert %Expr{name: :__anon_set, data: %{data_type: :verdict}} =
               Expr.vmap_literal([{22, :accept}], :inet_service)
    end

    test "typed values: host-order marks, typed set elements" do
      # meta mark is a host-order u32 in the register
      assert [%Expr{name: :meta}, %Expr{name: :cmp, data: %{data: <<0x10::native-32>>}}] =
               Expr.match(:meta_mark, 0x10)

      assert [_, %Expr{data: %{data: <<0, 22>>}}] = Expr.match(:tcp_dport, 22)
      assert [_, %Expr{name: :__anon_set}] = Expr.match(:tcp_dport, [22, 80])
      # as nft: a range is cmp >= and cmp <=, its negation the range expression
      assert [
               _,
               %Expr{data: %{op: :gte, data: <<0, 1>>}},
               %Expr{data: %{op: :lte, data: <<4, 0>>}}
             ] =
               Expr.match(:tcp_dport, 1..1024)

      assert [_, %Expr{name: :range, data: %{op: :neq}}] = Expr.match(:tcp_dport, :neq, {1, 1024})

      # host-order values are made big-endian before ordering (the kernel compares bytes)
      assert [
               %Expr{name: :meta},
               %Expr{name: :byteorder, data: %{op: :hton, len: 4, size: 4}},
               %Expr{data: %{op: :gt, data: <<0, 0, 0x0B, 0xB8>>}}
             ] =
               Expr.match(:meta_skuid, :gt, 3000)

      assert [
               _,
               %Expr{name: :byteorder},
               %Expr{data: %{op: :gte, data: <<0, 0, 0, 0x32>>}},
               %Expr{data: %{op: :lte}}
             ] =
               Expr.match(:ct_mark, 0x32..0x45)

      # as nft: a prefix loads only the bytes it covers
      assert [%Expr{name: :payload, data: %{offset: 12, len: 1}}, %Expr{data: %{data: <<10>>}}] =
               Expr.match(:ip_saddr, "10.1.2.3/8")

      assert [
               %Expr{data: %{len: 4}},
               %Expr{name: :bitwise, data: %{mask: <<255, 240, 0, 0>>}},
               %Expr{data: %{data: <<10, 0, 0, 0>>}}
             ] =
               Expr.match(:ip_saddr, "10.1.2.3/12")

      assert [_, %Expr{data: %{data: <<8>>}}] = Expr.match(:icmp_type, :echo_request)

      assert [_, %Expr{name: :bitwise, data: %{mask: <<6::native-32>>}}, %Expr{data: %{op: :neq}}] =
               Expr.match(:ct_state, [:established, :related])

      assert [%Expr{data: %{key: :nfproto}}, %Expr{data: %{data: <<2>>}}] =
               Expr.match(:meta_nfproto, :ipv4)

      assert [%Expr{data: %{key: :l4proto}}, %Expr{data: %{data: <<6>>}}] =
               Expr.match({:meta, :l4proto}, :tcp)

      assert [_, %Expr{data: %{data: "eth0" <> <<0::96>>}}] = Expr.match(:meta_iifname, "eth0")
    end

    test "bad arguments raise ArgumentError naming the value" do
      assert_raise ArgumentError, ~r/unknown payload alias :nope/, fn -> Expr.payload(:nope) end
      assert_raise ArgumentError, ~r/unknown meta key :bogus/, fn -> Expr.meta(:bogus) end
      assert_raise ArgumentError, ~r/unknown ct key/, fn -> Expr.ct(:bogus) end
      assert_raise ArgumentError, ~r/cmp op/, fn -> Expr.cmp(:approx, <<1>>) end
      assert_raise ArgumentError, ~r/register/, fn -> Expr.meta(:mark, dreg: 5) end
      assert_raise ArgumentError, ~r/1..64/, fn -> Expr.immediate(<<>>) end

      assert_raise ArgumentError, ~r/unknown expression name/, fn ->
        Expr.new(:frobnicate, %{})
      end

      assert_raise ArgumentError, ~r/not an address: "10.0.0.300"/, fn ->
        Expr.match(:ip_saddr, "10.0.0.300")
      end

      assert_raise ArgumentError, ~r/out of range/, fn -> Expr.match(:tcp_dport, 70_000) end
      assert_raise ArgumentError, ~r/unknown nat flag/, fn -> Expr.nat(:snat, flags: [:bogus]) end
      assert_raise ArgumentError, ~r/not both/, fn -> Expr.log(group: 1, level: :info) end
      assert_raise ArgumentError, ~r/log level/, fn -> Expr.log(level: :loud) end
      assert_raise ArgumentError, ~r/not an IPv4 or IPv6/, fn -> Expr.dnat_to("nowhere") end
      assert_raise ArgumentError, ~r/port must be/, fn -> Expr.dnat_to("1.2.3.4", 70_000) end
      assert_raise ArgumentError, ~r/limit unit/, fn -> Expr.limit(1, :fortnight) end
      assert_raise ArgumentError, ~r/unknown object kind/, fn -> Expr.objref(:bogus, "x") end

      assert_raise ArgumentError, ~r/interface name/, fn ->
        Expr.match(:meta_iifname, "sixteen-bytes-xx")
      end
    end

    test "inspect" do
      assert inspect(Expr.immediate(:accept)) == "#Linx.Netfilter.Expr<immediate accept>"
      assert inspect(Expr.immediate({:jump, "x"})) == "#Linx.Netfilter.Expr<immediate jump x>"
      assert inspect(Expr.cmp(:eq, <<1>>)) == "#Linx.Netfilter.Expr<cmp>"
    end
  end

  describe "Rule" do
    test "build flattens one level and turns verdict sugar into immediates" do
      assert {:ok, r} = Rule.build([Expr.match(:tcp_dport, 22), :accept], tag: :ssh, comment: "c")
      assert [%Expr{name: :payload}, %Expr{name: :cmp}, %Expr{name: :immediate}] = r.expressions
      assert Rule.verdict(r) == Verdict.accept()
      assert r.tag == :ssh
      assert Rule.verdict(Rule.build!([Expr.counter()])) == nil
      assert Rule.build!([{:goto, "x"}]).expressions == [Expr.immediate({:goto, "x"})]
      # a queue verdict keeps its number: nft's queue expression
      q = Rule.build!([{:queue, 3}])
      assert q.expressions == [Expr.queue(num: 3)]
      assert Rule.verdict(q) == Verdict.queue(3)
    end

    test "errors" do
      assert {:error, {:bad_rule, {:not_an_expression, 42}}} = Rule.build([42])
      assert {:error, {:bad_rule, {:tag_not_atom, 1}}} = Rule.build([:accept], tag: 1)

      assert {:error, {:bad_rule, {:bad_comment, _}}} =
               Rule.build([:accept], comment: String.duplicate("x", 254))

      assert {:error, {:bad_rule, :empty}} = Rule.build([])
      assert {:error, {:bad_rule, {:unknown_option, [:bogus]}}} = Rule.build([:accept], bogus: 1)
      assert_raise ArgumentError, ~r/invalid rule/, fn -> Rule.build!([:nope]) end
    end
  end

  describe "Chain" do
    test "base and regular chains" do
      assert {:ok, c} =
               Chain.new("in", type: :filter, hook: :input, priority: :filter, policy: :drop)

      assert Chain.base?(c)
      assert c.flags == [] and c.rules == []
      assert {:ok, r} = Chain.new("helper")
      refute Chain.base?(r)
      assert Chain.priority_value({:srcnat, 5}, :ip) == 105
      assert Chain.priority_value(:filter, :bridge) == -200
      assert Chain.priority_value(:mangle, :netdev) == :error
    end

    test "validation errors" do
      assert {:error, {:bad_chain, :name_empty}} = Chain.new("")
      assert {:error, {:bad_chain, {:incomplete_base_chain, _}}} = Chain.new("c", hook: :input)

      assert {:error, {:bad_chain, {:unknown_type, :weird}}} =
               Chain.new("c", type: :weird, hook: :input, priority: 0)

      assert {:error, {:bad_chain, {:unknown_hook, :nowhere}}} =
               Chain.new("c", type: :filter, hook: :nowhere, priority: 0)

      assert {:error, {:bad_chain, {:bad_priority, "0"}}} =
               Chain.new("c", type: :filter, hook: :input, priority: "0")

      assert {:error, {:bad_chain, {:policy_on_regular_chain, :drop}}} =
               Chain.new("c", policy: :drop)

      assert {:error, {:bad_chain, {:bad_policy, :reject}}} =
               Chain.new("c", type: :filter, hook: :input, priority: 0, policy: :reject)

      assert {:error, {:bad_chain, {:device_required_for_hook, :ingress}}} =
               Chain.new("c", type: :filter, hook: :ingress, priority: 0)

      assert {:error, {:bad_chain, {:device_not_allowed_for_hook, :input}}} =
               Chain.new("c", type: :filter, hook: :input, priority: 0, device: "lo")

      assert {:error, {:bad_chain, {:unknown_flag, :fast}}} = Chain.new("c", flags: [:fast])
      assert {:error, {:bad_chain, {:unknown_option, [:bogus]}}} = Chain.new("c", bogus: 1)

      nat = Chain.new!("n", type: :nat, hook: :forward, priority: 0)

      assert {:error, {:bad_chain, {:nat_invalid_on_hook, :forward}}} =
               Chain.validate_for_family(nat, :ip)

      nat = Chain.new!("n", type: :nat, hook: :prerouting, priority: 0)

      assert {:error, {:bad_chain, {:type_not_valid_for_family, _}}} =
               Chain.validate_for_family(nat, :bridge)

      route = Chain.new!("r", type: :route, hook: :output, priority: 0)

      assert {:error, {:bad_chain, {:type_not_valid_for_family, _}}} =
               Chain.validate_for_family(route, :inet)

      arp = Chain.new!("a", type: :filter, hook: :forward, priority: 0)

      assert {:error, {:bad_chain, {:hook_not_valid_for_family, _}}} =
               Chain.validate_for_family(arp, :arp)
    end
  end

  describe "Table" do
    test "0.2 default: no flags" do
      assert {:ok,
              %Table{flags: [], chains: %{}, sets: %{}, maps: %{}, objects: %{}, flowtables: %{}}} =
               Table.new(:inet, "t")
    end

    test "errors" do
      assert {:error, {:bad_table, {:unknown_family, :ipx}}} = Table.new(:ipx, "t")
      assert {:error, {:bad_table, :name_empty}} = Table.new(:ip, "")
      assert {:error, {:bad_table, {:unknown_flag, :fast}}} = Table.new(:ip, "t", flags: [:fast])
      t = Table.new!(:ip, "t")
      {:ok, t} = Table.add_chain(t, Chain.new!("c"))
      assert {:error, {:bad_table, {:duplicate_chain, "c"}}} = Table.add_chain(t, Chain.new!("c"))
      assert {:error, :no_such_chain} = Table.fetch_chain(t, "x")
      {:ok, t} = Table.add_set(t, NSet.new!("s", key_type: :mark))

      assert {:error, {:bad_table, {:set_map_name_collision, "s"}}} =
               Table.add_map(t, NMap.new!("s", key_type: :mark, data_type: :mark))

      {:ok, t} = Table.add_object(t, Object.new!(:counter, "c"))

      assert {:error, {:bad_table, {:duplicate_object, {:counter, "c"}}}} =
               Table.add_object(t, Object.new!(:counter, "c"))

      assert {:error, {:bad_flowtable, {:family_not_supported, :arp}}} =
               Table.add_flowtable(Table.new!(:arp, "a"), Flowtable.new!("f"))
    end
  end

  describe "Set, Map, Vmap" do
    test "elements are canonicalized: addresses become bytes-backed values, not text" do
      {:ok, s} =
        NSet.new("s",
          key_type: :ipv4_addr,
          elements: ["10.0.0.1", {10, 0, 0, 2}, <<10, 0, 0, 3>>]
        )

      assert Enum.map(s.elements, &Linx.IP.to_string/1) == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
      assert Type.encode!(:ipv4_addr, hd(s.elements)) == <<10, 0, 0, 1>>

      {:ok, s} =
        NSet.new("s",
          key_type: :ipv4_addr,
          flags: [:interval],
          elements: ["10.1.2.3/8", {"10.0.0.0", "10.0.0.255"}]
        )

      assert [%Linx.IP.Subnet{prefix: 8, address: a}, %Linx.IP.Subnet{prefix: 24}] = s.elements
      assert Linx.IP.to_string(a) == "10.0.0.0"

      {:ok, s} =
        NSet.new("c",
          key_type: {:concat, [:ipv4_addr, :inet_service]},
          elements: [["10.0.0.1", 22]]
        )

      assert [[%Linx.IP{}, 22]] = s.elements

      {:ok, s} =
        NSet.new("t",
          key_type: :ipv4_addr,
          flags: [:timeout],
          elements: [{"10.0.0.1", timeout: 1000, comment: "x"}]
        )

      assert [{%Linx.IP{}, [comment: "x", timeout: 1000]}] = s.elements
      {:ok, s} = NSet.new("p", key_type: :inet_proto, elements: [:tcp, 17])
      assert s.elements == [6, 17]
      {:ok, s} = NSet.new("i", key_type: :ifname, elements: ["eth0"])
      assert Type.encode!(:ifname, hd(s.elements)) == "eth0" <> <<0::96>>
    end

    test "set errors" do
      assert {:error, {:bad_set, :key_type_required}} = NSet.new("s", [])
      assert {:error, {:bad_set, {:unknown_key_type, :color}}} = NSet.new("s", key_type: :color)

      assert {:error, {:bad_set, {:unknown_flag, :fast}}} =
               NSet.new("s", key_type: :mark, flags: [:fast])

      assert {:error, {:bad_set, {:bad_element, "10.0.0.0/8", _}}} =
               NSet.new("s", key_type: :ipv4_addr, elements: ["10.0.0.0/8"])

      assert {:error, {:bad_set, {:bad_element, "fd00::1", _}}} =
               NSet.new("s", key_type: :ipv4_addr, elements: ["fd00::1"])

      assert {:error, {:bad_set, {:bad_element, 70_000, _}}} =
               NSet.new("s", key_type: :inet_service, elements: [70_000])

      assert {:error, {:bad_set, {:bad_timeout, -1}}} =
               NSet.new("s", key_type: :mark, timeout: -1)

      s = NSet.new!("s", key_type: :mark)
      assert {:ok, %NSet{elements: [1, 2]}} = NSet.add_elements(s, [1, 2, 1])
      assert {:error, {:bad_set_element, {:bad_element, :x, _}}} = NSet.add_elements(s, [:x])
      {:ok, s} = NSet.add_elements(s, [1, 2, 3])
      assert {:ok, %NSet{elements: [1, 3]}} = NSet.delete_elements(s, [2])
    end

    test "maps and verdict maps" do
      {:ok, m} =
        NMap.new("m",
          key_type: :inet_service,
          data_type: :ipv4_addr,
          elements: [{80, "10.0.0.2"}]
        )

      assert [{80, %Linx.IP{}}] = m.elements

      {:ok, vm} =
        Vmap.new("v", key_type: :inet_service, elements: [{22, :accept}, {23, {:jump, "x"}}])

      assert vm.data_type == :verdict

      assert [{22, %Verdict{kind: :accept}}, {23, %Verdict{kind: :jump, target: "x"}}] =
               vm.elements

      assert {:error, {:bad_map, {:bad_element, {22, :maybe}, _}}} =
               Vmap.new("v", key_type: :inet_service, elements: [{22, :maybe}])

      assert {:error, {:bad_map, {:unknown_data_type, :color}}} =
               NMap.new("m", key_type: :mark, data_type: :color)

      {:ok, m} = NMap.add_elements(m, [{80, "10.0.0.3"}, {443, "10.0.0.4"}])
      assert length(m.elements) == 2
      assert {:ok, %NMap{elements: [{443, _}]}} = NMap.delete_elements(m, [80])
      assert {:error, {:bad_map_element, _}} = NMap.add_elements(m, [{1, "nope"}])
    end
  end

  describe "Object and Flowtable" do
    test "objects normalize their data and reject bad data" do
      assert Object.new!(:counter, "c").data == %{packets: 0, bytes: 0}
      assert Object.new!(:quota, "q", %{bytes: 5}).data == %{bytes: 5, consumed: 0, over: false}

      assert Object.new!(:limit, "l", rate: 3).data == %{
               rate: 3,
               unit: :second,
               burst: 5,
               type: :pkts,
               over: false
             }

      assert {:error, {:bad_object, {:unknown_kind, :gizmo}}} = Object.new(:gizmo, "x")
      assert {:error, {:bad_object, :name_empty}} = Object.new(:counter, "")

      assert {:error, {:bad_object, {:bad_data, :quota, _}}} =
               Object.new(:quota, "q", %{bytes: 0})

      assert {:error, {:bad_object, {:bad_data, :ct_timeout, msg}}} =
               Object.new(:ct_timeout, "t", %{protocol: :tcp, policy: %{nap: 1}})

      assert msg =~ "nap"

      assert {:error, {:bad_object, {:bad_data, :counter, _}}} =
               Object.new(:counter, "c", %{pakets: 1})
    end

    test "flowtables" do
      assert {:ok, %Flowtable{hook: :ingress, priority: 0, devices: ["a"]}} =
               Flowtable.new("f", devices: ["a"])

      assert {:error, {:bad_flowtable, :name_empty}} = Flowtable.new("")
      assert {:error, {:bad_flowtable, {:bad_device, ""}}} = Flowtable.new("f", devices: [""])

      assert {:error, {:bad_flowtable, {:unknown_flag, :turbo}}} =
               Flowtable.new("f", flags: [:turbo])
    end
  end

  describe "Ruleset DSL" do
    test "pipeline, lookups by name or {family, name}, inspect" do
      rs =
        Ruleset.new()
        |> Ruleset.add_table!(:inet, "fw")
        |> Ruleset.add_chain!("fw", "in", type: :filter, hook: :input, priority: 0, policy: :drop)
        |> Ruleset.add_rule!(
          "fw",
          "in",
          [Expr.payload(:tcp_dport), Expr.cmp(:eq, <<22::16>>), :accept],
          tag: :ssh
        )
        |> Ruleset.add_set!("fw", NSet.new!("s", key_type: :mark))
        |> Ruleset.add_map!("fw", Vmap.new!("v", key_type: :mark))
        |> Ruleset.add_object!("fw", Object.new!(:counter, "c"))
        |> Ruleset.add_flowtable!("fw", Flowtable.new!("f", devices: ["lo"]))

      assert inspect(rs) == "#Linx.Netfilter.Ruleset<1 tables, 1 chains, 1 rules>"
      assert {:ok, %Table{name: "fw"}} = Ruleset.fetch_table(rs, {:inet, "fw"})
      assert [{:inet, "fw", %Table{}}] = Ruleset.tables(rs)
      [rule] = rs.tables[{:inet, "fw"}].chains["in"].rules
      assert rule.chain == "in"
      assert rs.tables[{:inet, "fw"}].sets["s"].table == "fw"
    end

    test "errors" do
      rs = Ruleset.new() |> Ruleset.add_table!(:ip, "t") |> Ruleset.add_table!(:ip6, "t")
      assert {:error, {:ambiguous_table_name, "t"}} = Ruleset.add_chain(rs, "t", "c")
      assert {:error, {:no_such_table, "x"}} = Ruleset.add_chain(rs, "x", "c")

      assert {:error, {:bad_table, {:duplicate_table, {:ip, "t"}}}} =
               Ruleset.add_table(rs, :ip, "t")

      assert {:error, {:no_such_chain, "c"}} = Ruleset.add_rule(rs, {:ip, "t"}, "c", [:accept])
      rs = Ruleset.add_chain!(rs, {:ip, "t"}, "c")
      rs = Ruleset.add_rule!(rs, {:ip, "t"}, "c", [:accept], tag: :a)

      assert {:error, {:bad_rule, {:duplicate_tag, :a}}} =
               Ruleset.add_rule(rs, {:ip, "t"}, "c", [:drop], tag: :a)

      assert {:ok, rs2} = Ruleset.delete_table(rs, {:ip6, "t"})
      assert {:ok, _} = Ruleset.fetch_table(rs2, "t")

      assert_raise ArgumentError,
                   ~r/Linx.Netfilter.Ruleset operation failed: \{:no_such_table, "x"\}/,
                   fn ->
                     Ruleset.add_chain!(rs, "x", "c")
                   end
    end
  end
end
