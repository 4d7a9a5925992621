defmodule Linx.Netlink.Rtnl.RuleTest do
  # Not async: the live tests run `ip` and open sockets (see AddressTest).
  use ExUnit.Case, async: false

  import Linx.IP, only: [sigil_IP: 2]

  alias Linx.IP.Subnet
  alias Linx.Netlink.{Error, Message, Rtnl, Socket}
  alias Linx.Netlink.Rtnl.Rule
  alias Linx.Test.Sandbox

  doctest Rule

  defp nla(type, value) do
    len = 4 + byte_size(value)
    pad = rem(4 - rem(len, 4), 4)
    <<len::native-16, type::native-16, value::binary, 0::size(pad * 8)>>
  end

  # struct fib_rule_hdr (/usr/include/linux/fib_rules.h)
  defp hdr(family, dst_len, src_len, tos, table, action, flags),
    do: <<family, dst_len, src_len, tos, table, 0, 0, action, flags::native-32>>

  describe "encoding (golden bytes from /usr/include/linux/fib_rules.h)" do
    test "0.2's rule: priority, a source prefix and a table (FR_ACT_TO_TBL)" do
      rule = Rule.build([priority: 100, from: "10.0.0.0/24", table: 100], :add)

      assert Rule.encode(rule) ==
               hdr(2, 0, 24, 0, 100, 1, 0) <>
                 nla(2, <<10, 0, 0, 0>>) <> nla(6, <<100::native-32>>)
    end

    test "an IPv6 fwmark-only rule with a table beyond 255 (FRA_TABLE, header 0)" do
      rule = Rule.build([family: :inet6, fwmark: 0x10, fwmask: 0xF0, table: 1000], :add)

      assert Rule.encode(rule) ==
               hdr(10, 0, 0, 0, 0, 1, 0) <>
                 nla(10, <<0x10::native-32>>) <>
                 nla(15, <<1000::native-32>>) <> nla(16, <<0xF0::native-32>>)
    end

    test "every selector at once" do
      rule =
        Rule.build(
          [
            priority: 7,
            to: ~IP"fd00::/8",
            from: %Subnet{address: ~IP"fd01::1", prefix: 128},
            invert: true,
            iif: "eth0",
            oif: "eth1",
            uid_range: 1000..1999,
            ip_proto: :tcp,
            sport: 1024..2047,
            dport: 443,
            tos: 0x10,
            suppress_prefixlength: 64,
            suppress_ifgroup: 5,
            protocol: :static,
            tun_id: 0x0102030405060708,
            table: :main
          ],
          :add
        )

      fd00 = <<0xFD, 0::15*8>>
      fd01 = <<0xFD, 0x01, 0::13*8, 1>>

      # FIB_RULE_INVERT 0x2; RT_TABLE_MAIN 254; IPPROTO_TCP 6; RTPROT_STATIC 4;
      # FRA_TUN_ID is big-endian
      assert Rule.encode(rule) ==
               hdr(10, 8, 128, 0x10, 254, 1, 0x2) <>
                 nla(1, fd00) <>
                 nla(2, fd01) <>
                 nla(3, "eth0\0") <>
                 nla(6, <<7::native-32>>) <>
                 nla(12, <<1, 2, 3, 4, 5, 6, 7, 8>>) <>
                 nla(13, <<5::native-32>>) <>
                 nla(14, <<64::native-32>>) <>
                 nla(17, "eth1\0") <>
                 nla(20, <<1000::native-32, 1999::native-32>>) <>
                 nla(21, <<4>>) <>
                 nla(22, <<6>>) <>
                 nla(23, <<1024::native-16, 2047::native-16>>) <>
                 nla(24, <<443::native-16, 443::native-16>>)
    end

    test "actions: goto, nop, blackhole, unreachable, prohibit; l3mdev without a table" do
      assert Rule.encode(Rule.build([priority: 5, goto: 300], :add)) ==
               hdr(2, 0, 0, 0, 0, 2, 0) <> nla(4, <<300::native-32>>) <> nla(6, <<5::native-32>>)

      for {action, n} <- [nop: 3, blackhole: 6, unreachable: 7, prohibit: 8] do
        assert Rule.encode(Rule.build([action: action], :add)) == hdr(2, 0, 0, 0, 0, n, 0)
      end

      assert Rule.encode(Rule.build([l3mdev: true], :add)) ==
               hdr(2, 0, 0, 0, 0, 1, 0) <> nla(19, <<1>>)
    end

    test "delete sends only what is given (no default action, no table needed)" do
      assert Rule.encode(Rule.build([priority: 100], :delete)) ==
               hdr(2, 0, 0, 0, 0, 0, 0) <> nla(6, <<100::native-32>>)
    end

    test "selectors: a host string, an IP, a Subnet keeps its host bits" do
      assert %Rule{src: ~IP"10.1.2.3", src_len: 32} =
               Rule.build([from: "10.1.2.3", table: 1], :add)

      assert %Rule{dst: ~IP"fd00::1", dst_len: 128} =
               Rule.build([to: ~IP"fd00::1", table: 1], :add)

      assert %Rule{src: ~IP"10.1.2.3", src_len: 8} =
               Rule.build([from: ~IP"10.1.2.3/8", table: 1], :add)

      assert %Rule{family: 10, src: nil, src_len: 0} = Rule.build([from: "::/0", table: 1], :add)
    end
  end

  describe "decoding" do
    test "a kernel rule with every attribute" do
      payload =
        hdr(2, 16, 24, 0, 0, 1, 0x0A) <>
          nla(1, <<10, 9, 0, 0>>) <>
          nla(2, <<10, 8, 8, 0>>) <>
          nla(3, "in0\0") <>
          nla(4, <<9::native-32>>) <>
          nla(6, <<200::native-32>>) <>
          nla(10, <<1::native-32>>) <>
          nla(11, <<7::native-32>>) <>
          nla(12, <<42::64>>) <>
          nla(13, <<-1::native-signed-32>>) <>
          nla(14, <<-1::native-signed-32>>) <>
          nla(15, <<5000::native-32>>) <>
          nla(16, <<0xFF::native-32>>) <>
          nla(17, "out0\0") <>
          nla(19, <<0>>) <>
          nla(20, <<0::native-32, 99::native-32>>) <>
          nla(21, <<2>>) <>
          nla(22, <<17>>) <>
          nla(23, <<53::native-16, 53::native-16>>) <>
          nla(24, <<1::native-16, 1023::native-16>>)

      r = Rule.decode_message(%Message{type: 32, payload: payload})

      assert %Rule{
               family: 2,
               dst_len: 16,
               src_len: 24,
               action: 1,
               flags: 0x0A,
               dst: ~IP"10.9.0.0",
               src: ~IP"10.8.8.0",
               iifname: "in0",
               goto: 9,
               priority: 200,
               fwmark: 1,
               flow: 7,
               tun_id: 42,
               suppress_ifgroup: -1,
               suppress_prefixlen: -1,
               table_ext: 5000,
               fwmask: 0xFF,
               oifname: "out0",
               l3mdev: 0,
               uid_range: 0..99,
               protocol: 2,
               ip_proto: 17,
               sport_range: 53..53,
               dport_range: 1..1023
             } = r

      assert Rule.target_table(r) == 5000
      assert Rule.flag_names(r) == [:invert, :iif_detached]
      assert Rule.action_name(r) == :to_tbl
      assert Rule.family_name(r) == :inet
      assert Rule.decode_message(%Message{type: 33, payload: payload}) == r
      assert Rule.decode_message(%Message{type: 24, payload: payload}) == nil
    end

    test "never raises on short or malformed input" do
      assert %Rule{family: nil} = Rule.decode(<<2, 0, 0>>)

      r = Rule.decode(hdr(2, 0, 0, 0, 254, 1, 0) <> nla(20, <<1, 2, 3>>) <> nla(23, <<1>>))
      assert %Rule{uid_range: nil, sport_range: nil, table: 254} = r

      for _ <- 1..500 do
        assert %Rule{} = Rule.decode(:crypto.strong_rand_bytes(:rand.uniform(80)))
      end
    end

    test "a built rule round-trips" do
      rule =
        Rule.build([priority: 3, to: "fd00::/16", dport: 80..90, uid_range: 5, table: 9], :add)

      assert Rule.decode(Rule.encode(rule)) == rule
    end
  end

  describe "helpers and Inspect" do
    test "target_table and action names" do
      assert Rule.target_table(%Rule{table: 100, table_ext: 100}) == 100
      assert Rule.target_table(%Rule{table: 0, table_ext: nil}) == 0
      assert Rule.action_name(%Rule{action: 2}) == :goto
      assert Rule.action_name(%Rule{action: 99}) == 99
      assert Rule.family_name(%Rule{family: 129}) == :ip6mr
    end

    test "0.2's form, with nil parts skipped and fwmark in upper-case hex" do
      assert inspect(%Rule{
               priority: 200,
               src: ~IP"10.0.0.0",
               src_len: 24,
               dst: ~IP"10.1.0.0",
               dst_len: 16,
               fwmark: 0xAB,
               table: 100,
               action: 1
             }) ==
               "#Linx.Netlink.Rtnl.Rule<priority=200 from=10.0.0.0/24 to=10.1.0.0/16 fwmark=0xAB table=100>"

      assert inspect(%Rule{table: 255, action: 1}) == "#Linx.Netlink.Rtnl.Rule<table=255>"

      assert inspect(%Rule{priority: 5, action: 2, goto: 300, flags: 2, iifname: "eth0"}) ==
               "#Linx.Netlink.Rtnl.Rule<priority=5 not iif=eth0 goto=300>"

      assert inspect(%Rule{priority: 6, action: 7, dport_range: 80..89, ip_proto: 6}) ==
               "#Linx.Netlink.Rtnl.Rule<priority=6 ipproto=6 dport=80-89 unreachable>"
    end
  end

  describe "programmer errors raise ArgumentError naming the value" do
    test "prefixes out of range and bad addresses" do
      assert_raise ArgumentError, ~r/"10.0.0.0\/33".*prefix length 33/, fn ->
        Rule.build([from: "10.0.0.0/33", table: 1], :add)
      end

      assert_raise ArgumentError, ~r/prefix length 129/, fn ->
        Rule.build([to: "fd00::/129", table: 1], :add)
      end

      assert_raise ArgumentError, ~r/prefix length 40/, fn ->
        Rule.build([to: %Subnet{address: ~IP"10.0.0.0", prefix: 40}, table: 1], :add)
      end

      assert_raise ArgumentError, ~r/"10.1\/8"/, fn ->
        Rule.build([from: "10.1/8", table: 1], :add)
      end

      for bad <- ["10.0.0.0/x", "10.0.0.0/+8", "10.0.0.0/ 8", "10.0.0.0/8/9"] do
        assert_raise ArgumentError, ~r/#{Regex.escape(inspect(bad))}/, fn ->
          Rule.build([from: bad, table: 1], :add)
        end
      end

      assert_raise ArgumentError, ~r/\{10, 0, 0, 0\}/, fn ->
        Rule.build([from: {10, 0, 0, 0}, table: 1], :add)
      end
    end

    test "family mismatches between selectors" do
      assert_raise ArgumentError, ~r/from is inet, to is inet6/, fn ->
        Rule.build([from: "10.0.0.0/8", to: "fd00::/8", table: 1], :add)
      end

      assert_raise ArgumentError, ~r/family is inet6, from is inet/, fn ->
        Rule.build([family: :inet6, from: "10.0.0.0/8", table: 1], :add)
      end

      assert_raise ArgumentError, ~r/:ipx/, fn -> Rule.build([family: :ipx, table: 1], :add) end
    end

    test "missing table, unknown options, bad values" do
      assert_raise ArgumentError, ~r/:to_tbl action needs a :table/, fn ->
        Rule.build([priority: 1], :add)
      end

      assert_raise ArgumentError, ~r/:lookup/, fn -> Rule.build([lookup: 100], :add) end
      assert_raise ArgumentError, ~r/table 0/, fn -> Rule.build([table: 0], :add) end
      assert_raise ArgumentError, ~r/table :mine/, fn -> Rule.build([table: :mine], :add) end

      assert_raise ArgumentError, ~r/:priority -1/, fn ->
        Rule.build([priority: -1, table: 1], :add)
      end

      assert_raise ArgumentError, ~r/:fwmark 4294967296/, fn ->
        Rule.build([fwmark: 0x1_0000_0000, table: 1], :add)
      end

      assert_raise ArgumentError, ~r/action :goto needs the :goto option/, fn ->
        Rule.build([action: :goto], :add)
      end

      assert_raise ArgumentError, ~r/conflicts with action :nop/, fn ->
        Rule.build([action: :nop, goto: 5], :add)
      end

      assert_raise ArgumentError, ~r/:drop/, fn -> Rule.build([action: :drop], :add) end

      assert_raise ArgumentError, ~r/:uid_range 5..1/, fn ->
        Rule.build([uid_range: 5..1//-1, table: 1], :add)
      end

      assert_raise ArgumentError, ~r/:sport 70000/, fn ->
        Rule.build([sport: 70000, table: 1], :add)
      end

      assert_raise ArgumentError, ~r/:ip_proto :quic/, fn ->
        Rule.build([ip_proto: :quic, table: 1], :add)
      end

      assert_raise ArgumentError, ~r/"eth\/0"/, fn ->
        Rule.build([iif: "eth/0", table: 1], :add)
      end

      assert_raise ArgumentError, ~r/:oif 3/, fn -> Rule.build([oif: 3, table: 1], :add) end

      assert_raise ArgumentError, ~r/:suppress_prefixlength 33/, fn ->
        Rule.build([suppress_prefixlength: 33, table: 1], :add)
      end

      assert_raise ArgumentError, ~r/:invert "yes"/, fn ->
        Rule.build([invert: "yes", table: 1], :add)
      end

      assert_raise ArgumentError, ~r/:protocol :nobody/, fn ->
        Rule.build([protocol: :nobody, table: 1], :add)
      end
    end
  end

  describe "live, in a private netns" do
    @describetag :root
    @describetag :iproute2

    setup do
      ns = Sandbox.netns!(tag: "rule")
      {:ok, sock} = Rtnl.open({:path, ns.path})
      on_exit(fn -> Socket.close(sock) end)
      %{ns: ns, sock: sock}
    end

    defp ip_rules(ns, v6? \\ false) do
      args = if v6?, do: ~w(-N -6 rule show), else: ~w(-N rule show)
      Map.new(Sandbox.ip_json!(ns.name, args), &{&1["priority"], &1})
    end

    test "list/1 has the kernel's default rules of both families", %{sock: sock} do
      assert {:ok, rules} = Rule.list(sock)
      v4 = for r <- rules, r.family == 2, do: {r.priority, Rule.target_table(r)}
      v6 = for r <- rules, r.family == 10, do: {r.priority, Rule.target_table(r)}
      assert v4 == [{nil, 255}, {32766, 254}, {32767, 253}]
      assert v6 == [{nil, 255}, {32766, 254}]
      assert {:ok, only6} = Rule.list(sock, :inet6)
      assert Enum.all?(only6, &(&1.family == 10)) and length(only6) == 2
      assert {:ok, ^only6} = Rule.list(sock, family: :inet6)
    end

    test "add/delete IPv4 and IPv6 rules of every kind", %{ns: ns, sock: sock} do
      assert :ok = Rule.add(sock, priority: 100, from: "10.0.0.0/24", table: 100)
      assert :ok = Rule.add(sock, priority: 101, to: ~IP"10.9.0.0/16", invert: true, table: 5000)

      assert :ok =
               Rule.add(sock,
                 priority: 102,
                 family: :inet6,
                 fwmark: 0x10,
                 fwmask: 0xF0,
                 table: :main
               )

      assert :ok = Rule.add(sock, priority: 103, iif: "lo", ip_proto: :udp, dport: 53, table: 200)

      assert :ok =
               Rule.add(sock, priority: 104, uid_range: 1000..1999, sport: 1024..2047, table: 201)

      assert :ok = Rule.add(sock, priority: 105, to: "fd00::/8", action: :unreachable)
      assert :ok = Rule.add(sock, priority: 106, goto: 108)
      assert :ok = Rule.add(sock, priority: 107, action: :blackhole, tos: 0x10)
      assert :ok = Rule.add(sock, priority: 108, table: :main, suppress_prefixlength: 0)

      v4 = ip_rules(ns)
      assert %{"src" => "10.0.0.0", "srclen" => 24, "table" => "100"} = v4[100]
      assert %{"dst" => "10.9.0.0", "dstlen" => 16, "table" => "5000", "not" => nil} = v4[101]
      assert %{"iif" => "lo", "ipproto" => "ipproto-17", "dport" => 53} = v4[103]
      assert %{"uid_start" => 1000, "uid_end" => 1999, "sport_start" => 1024} = v4[104]
      assert %{"goto" => 108} = v4[106]
      assert %{"tos" => "0x10", "action" => "6"} = v4[107]
      assert %{"suppress_prefixlen" => 0, "table" => "254"} = v4[108]
      v6 = ip_rules(ns, true)
      assert %{"fwmark" => "0x10", "fwmask" => "0xf0", "table" => "254"} = v6[102]
      assert %{"dst" => "fd00::", "dstlen" => 8, "action" => "7"} = v6[105]

      {:ok, rules} = Rule.list(sock)
      by_prio = Map.new(for(r <- rules, r.family in [2, 10], do: {{r.family, r.priority}, r}))
      assert Rule.target_table(by_prio[{2, 101}]) == 5000
      assert :invert in Rule.flag_names(by_prio[{2, 101}])
      assert by_prio[{10, 102}].fwmark == 0x10
      assert by_prio[{2, 104}].uid_range == 1000..1999
      assert Rule.action_name(by_prio[{10, 105}]) == :unreachable
      assert by_prio[{2, 106}].goto == 108

      assert {:error,
              %Error{
                errno: :eexist,
                operation: :add_rule,
                object: [priority: 100, from: "10.0.0.0/24", table: 100]
              }} =
               Rule.add(sock, priority: 100, from: "10.0.0.0/24", table: 100)

      for p <- [100, 101, 103, 104, 106, 107, 108],
          do: assert(:ok = Rule.delete(sock, priority: p))

      assert :ok = Rule.delete(sock, family: :inet6, priority: 102)
      assert :ok = Rule.delete(sock, to: "fd00::/8", action: :unreachable)
      assert Map.keys(ip_rules(ns)) |> Enum.sort() == [0, 32766, 32767]
      assert Map.keys(ip_rules(ns, true)) |> Enum.sort() == [0, 32766]
    end

    test "delete matches on every given selector", %{ns: ns, sock: sock} do
      assert :ok = Rule.add(sock, priority: 300, from: "10.3.0.0/16", table: 30)

      assert {:error, %Error{errno: :enoent, operation: :delete_rule}} =
               Rule.delete(sock, priority: 300, from: "10.4.0.0/16")

      assert {:error, %Error{errno: :enoent}} = Rule.delete(sock, priority: 300, table: 31)
      assert {:error, %Error{errno: :enoent}} = Rule.delete(sock, family: :inet6, priority: 300)
      assert Map.has_key?(ip_rules(ns), 300)
      assert :ok = Rule.delete(sock, priority: 300, from: "10.3.0.0/16", table: 30)
      refute Map.has_key?(ip_rules(ns), 300)
    end

    test ":iif and :oif by ifindex become the link's name", %{ns: ns, sock: sock} do
      assert :ok = Rule.add(sock, priority: 400, iif: 1, oif: "ghost0", table: 40)
      assert %{"iif" => "lo", "oif" => "ghost0", "oif_detached" => nil} = ip_rules(ns)[400]
      assert :ok = Rule.delete(sock, priority: 400, iif: 1)

      assert {:error, %Error{errno: :enodev, operation: :add_rule, object: [iif: 4242, table: 1]}} =
               Rule.add(sock, iif: 4242, table: 1)

      assert {:error, %Error{errno: :enodev, operation: :delete_rule}} =
               Rule.delete(sock, oif: 4242)

      # validation comes first: a bad option raises even with an unknown ifindex
      assert_raise ArgumentError, ~r/:lookup/, fn -> Rule.add(sock, iif: 4242, lookup: 1) end
      assert_raise ArgumentError, ~r/:iif 0/, fn -> Rule.add(sock, iif: 0, table: 1) end
    end

    test "kernel errors name the operation and the rule", %{sock: sock} do
      assert {:error, %Error{errno: :enoent, operation: :delete_rule, object: [priority: 999]}} =
               Rule.delete(sock, priority: 999)

      # a goto to an earlier priority would loop: the kernel refuses it
      assert {:error, %Error{errno: :einval, operation: :add_rule}} =
               Rule.add(sock, priority: 500, goto: 400)
    end

    test "bad list arguments raise", %{sock: sock} do
      assert_raise ArgumentError, ~r/:inet4/, fn -> Rule.list(sock, :inet4) end
      assert_raise ArgumentError, ~r/:table/, fn -> Rule.list(sock, table: 1) end
      assert_raise ArgumentError, ~r/"inet"/, fn -> Rule.list(sock, "inet") end
    end
  end
end
