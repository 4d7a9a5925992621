defmodule Linx.Netlink.Rtnl.LinkVerbsTest do
  # Every Link verb, live, in private network namespaces, checked against iproute2.
  #
  # Two oracles:
  #   * equivalence: `ip link add NAME ...` builds a link, its `ip -j -d link show` is
  #     recorded and the link deleted; Linx then builds the same link with the same
  #     options, and `ip` must show exactly the same thing (minus what is random or
  #     per-link: ifindex, random MAC, running timers, port numbers);
  #   * expectation: after a change, the keys `ip -j -d link show` prints for it.
  #
  # Not async: the netns-file tests count this BEAM's open descriptors.
  use ExUnit.Case, async: false

  @moduletag :root
  @moduletag :iproute2

  alias Linx.Netlink.{Error, Rtnl, Socket}
  alias Linx.Netlink.Rtnl.Link
  alias Linx.Netlink.Rtnl.LinkInfo.{BridgePort, Tun}
  alias Linx.Netlink.Socket.Native
  alias Linx.Test.Sandbox

  setup do
    ns = Sandbox.netns!(tag: "verbs")
    {:ok, sock} = Rtnl.open({:path, ns.path})
    on_exit(fn -> Socket.close(sock) end)
    %{ns: ns, sock: sock}
  end

  defp show(ns, name) do
    [link] = Sandbox.ip_json!(ns.name, ["-d", "link", "show", "dev", name])
    link
  end

  defp exists?(ns, name) do
    {_, status} =
      System.cmd("ip", ["-n", ns.name, "link", "show", "dev", name], stderr_to_stdout: true)

    status == 0
  end

  @timers ~w(hello_timer tcn_timer topology_change_timer gc_timer hold_timer
             message_age_timer forward_delay_timer)

  # What may legitimately differ between two links built the same way.
  defp comparable(link, keep_address?) do
    drop = ["ifindex"] ++ if(keep_address?, do: [], else: ["address"])

    link
    |> Map.drop(drop)
    |> strip(["id", "no", "designated_port" | @timers])
  end

  defp strip(map, keys) when is_map(map),
    do: for({k, v} <- map, k not in keys, into: %{}, do: {k, strip(v, keys)})

  defp strip(list, keys) when is_list(list), do: Enum.map(list, &strip(&1, keys))
  defp strip(other, _keys), do: other

  # `ip ARGS` builds `name`, which is recorded and deleted; then `linx.()` must build a
  # link `ip` shows identically.
  defp same_as_ip(ns, name, ip_args, linx, opts \\ []) do
    Sandbox.ip!(ns.name, ip_args)
    expected = comparable(show(ns, name), opts[:address])
    Sandbox.ip!(ns.name, ~w(link delete dev #{name}))
    refute exists?(ns, name)

    assert :ok = linx.()
    assert comparable(show(ns, name), opts[:address]) == expected
    expected
  end

  describe "creating, compared with the same link built by ip" do
    test "veth: options on both ends (the 0.2 arity too)", %{ns: ns, sock: sock} do
      expected =
        same_as_ip(
          ns,
          "va",
          ~w(link add va mtu 9000 address 02:00:00:00:0a:01 txqlen 321 up type veth
             peer name vb mtu 4000 address 02:00:00:00:0b:01 txqlen 77),
          fn ->
            Link.create_veth(sock, "va", "vb",
              mtu: 9000,
              address: "02:00:00:00:0a:01",
              txqlen: 321,
              up: true,
              peer: [mtu: 4000, address: %Linx.MAC{bytes: <<2, 0, 0, 0, 0x0B, 1>>}, txqlen: 77]
            )
          end,
          address: true
        )

      assert expected["mtu"] == 9000 and "UP" in expected["flags"]
      assert %{"mtu" => 4000, "txqlen" => 77, "address" => "02:00:00:00:0b:01"} = show(ns, "vb")

      assert :ok = Link.create_veth(sock, "vc", "vd")
      assert exists?(ns, "vc") and exists?(ns, "vd")

      assert {:error, %Error{errno: :eexist, operation: :create_veth, object: "vc"}} =
               Link.create_veth(sock, "vc", "ve")
    end

    test "veth: the peer born in another netns, by path, pid and fd", %{ns: ns, sock: sock} do
      other = Sandbox.netns!(tag: "peer")

      assert :ok =
               Link.create_veth(sock, "v1", "p1", peer: [netns: {:path, other.path}, mtu: 1400])

      assert %{"mtu" => 1400} = show(other, "p1")
      refute exists?(ns, "p1")
      assert is_integer(show(ns, "v1")["link_netnsid"])

      {pid, stop} = process_in(other)
      assert :ok = Link.create_veth(sock, "v2", "p2", peer: [netns: pid])
      assert :ok = Link.create_veth(sock, "v3", "p3", peer: [netns: {:pid, pid}])
      stop.()

      {:ok, {handle, fd}} = Native.open_ns_file(other.path)
      assert :ok = Link.create_veth(sock, "v4", "p4", peer: [netns: {:fd, fd}])
      :ok = Native.close_ns_file(handle)

      for p <- ~w(p2 p3 p4), do: assert(exists?(other, p) and not exists?(ns, p))
    end

    test "a link created directly in another netns", %{sock: sock} do
      other = Sandbox.netns!(tag: "there")
      assert :ok = Link.create_bridge(sock, "brthere", netns: {:path, other.path})
      assert show(other, "brthere")["linkinfo"]["info_kind"] == "bridge"
    end

    test "bridge: options (and the 0.2 arity)", %{ns: ns, sock: sock} do
      data =
        same_as_ip(
          ns,
          "br0",
          ~w(link add br0 type bridge stp_state 1 forward_delay 400 hello_time 300
             max_age 2500 ageing_time 6000 priority 4096 group_fwd_mask 0x4000
             group_address 01:80:c2:00:00:0e mcast_snooping 0 mcast_querier 1
             mcast_igmp_version 3 mcast_mld_version 2 mcast_last_member_count 5
             mcast_query_interval 5000 no_linklocal_learn 1),
          fn ->
            Link.create_bridge(sock, "br0",
              stp: true,
              forward_delay: 400,
              hello_time: 300,
              max_age: 2500,
              ageing_time: 6000,
              priority: 4096,
              group_fwd_mask: 0x4000,
              group_address: "01:80:c2:00:00:0e",
              mcast_snooping: false,
              mcast_querier: true,
              mcast_igmp_version: 3,
              mcast_mld_version: 2,
              mcast_last_member_count: 5,
              mcast_query_interval: 5000,
              no_linklocal_learn: true
            )
          end
        )["linkinfo"]["info_data"]

      assert %{"stp_state" => 1, "forward_delay" => 400, "priority" => 4096} = data
      assert %{"no_linklocal_learn" => 1, "mcast_querier" => 1, "mcast_snooping" => 0} = data

      assert :ok = Link.create_bridge(sock, "br1")
      assert show(ns, "br1")["linkinfo"]["info_data"]["stp_state"] == 0
    end

    test "bridge: what the kernel refuses comes back as ip gets it", %{ns: ns, sock: sock} do
      # Kernels without CONFIG_BRIDGE_VLAN_FILTERING refuse vlan_filtering; with it, the
      # bridge is made. Either way Linx must agree with ip.
      case System.cmd("ip", ~w(-n #{ns.name} link add ipbrv type bridge vlan_filtering 1),
             stderr_to_stdout: true
           ) do
        {out, 0} ->
          assert out == ""
          assert :ok = Link.create_bridge(sock, "brv", vlan_filtering: true)
          assert show(ns, "brv")["linkinfo"]["info_data"]["vlan_filtering"] == 1

        {out, _} ->
          assert out =~ "Operation not supported"

          assert {:error, %Error{errno: :eopnotsupp, operation: :create_bridge, object: "brv"}} =
                   Link.create_bridge(sock, "brv", vlan_filtering: true)

          refute exists?(ns, "brv")
      end

      assert {:error, %Error{errno: :einval, operation: :create_bridge, object: "brg"}} =
               Link.create_bridge(sock, "brg", group_address: "01:80:c2:00:00:01")
    end

    test "macvlan and macvtap in every mode", %{ns: ns, sock: sock} do
      Sandbox.ip!(ns.name, ~w(link add lower0 type veth peer name lower1))
      Sandbox.ip!(ns.name, ~w(link add lower2 type veth peer name lower3))
      {:ok, %Link{index: lower0}} = Link.get(sock, "lower0")

      for mode <- [:private, :vepa, :bridge] do
        same_as_ip(
          ns,
          "mv_#{mode}",
          ~w(link add link lower0 name mv_#{mode} type macvlan mode #{mode}),
          fn -> Link.create_macvlan(sock, "mv_#{mode}", lower0, mode) end
        )
      end

      same_as_ip(
        ns,
        "mvdef",
        ~w(link add link lower0 name mvdef type macvlan mode bridge bcqueuelen 123),
        fn -> Link.create_macvlan(sock, "mvdef", "lower0", :bridge, bc_queue_len: 123) end
      )

      assert :ok = Link.create_macvlan(sock, "mv3", "lower0")
      assert show(ns, "mv3")["linkinfo"]["info_data"]["mode"] == "bridge"

      same_as_ip(
        ns,
        "mvp",
        ~w(link add link lower1 name mvp type macvlan mode passthru nopromisc),
        fn -> Link.create_macvlan(sock, "mvp", "lower1", :passthru, nopromisc: true) end
      )

      Sandbox.ip!(
        ns.name,
        ~w(link add link lower2 name mvs type macvlan mode source nodst macaddr add 02:00:00:00:00:01)
      )

      Sandbox.ip!(ns.name, ~w(link set mvs type macvlan macaddr add 02:00:00:00:00:02))
      expected = comparable(show(ns, "mvs"), false)
      Sandbox.ip!(ns.name, ~w(link delete mvs))

      assert :ok =
               Link.create_macvlan(sock, "mvs", "lower2", :source,
                 nodst: true,
                 macaddrs: ["02:00:00:00:00:02", "02:00:00:00:00:01"]
               )

      assert comparable(show(ns, "mvs"), false) == expected
      assert expected["linkinfo"]["info_data"]["macaddr_count"] == 2

      same_as_ip(
        ns,
        "mvt",
        ~w(link add link lower3 name mvt type macvtap mode vepa),
        fn -> Link.create_macvtap(sock, "mvt", "lower3", :vepa) end
      )

      assert {:error,
              %Error{
                errno: :enodev,
                operation: :create_macvlan,
                object: "mvx",
                message: ~s(no such parent interface "nope0")
              }} = Link.create_macvlan(sock, "mvx", "nope0")
    end

    test "vxlan: IPv4 unicast, IPv6 multicast on a device, external", %{ns: ns, sock: sock} do
      Sandbox.ip!(ns.name, ~w(link add lower0 type veth peer name lower1))

      same_as_ip(
        ns,
        "vx0",
        ~w(link add vx0 type vxlan id 42 remote 192.0.2.1 local 192.0.2.2 dstport 4789
           ttl inherit srcport 1000 2000 nolearning gbp tos 0x10 maxaddress 100 ageing 60
           proxy rsc l2miss l3miss df set),
        fn ->
          Link.create_vxlan(sock, "vx0", 42,
            remote: "192.0.2.1",
            local: {192, 0, 2, 2},
            port: 4789,
            ttl: :inherit,
            port_range: 1000..2000,
            learning: false,
            gbp: true,
            tos: 0x10,
            limit: 100,
            ageing: 60,
            proxy: true,
            rsc: true,
            l2miss: true,
            l3miss: true,
            df: :set
          )
        end
      )

      same_as_ip(
        ns,
        "vx1",
        ~w(link add vx1 type vxlan id 43 group ff05::1 dev lower0 df inherit flowlabel 0x123
           dstport 4790 ttl 9 udp6zerocsumtx udp6zerocsumrx remcsumtx remcsumrx),
        fn ->
          Link.create_vxlan(sock, "vx1", 43,
            group: Linx.IP.parse!("ff05::1"),
            dev: "lower0",
            df: :inherit,
            label: 0x123,
            port: 4790,
            ttl: 9,
            udp_zero_csum6_tx: true,
            udp_zero_csum6_rx: true,
            remcsum_tx: true,
            remcsum_rx: true
          )
        end
      )

      same_as_ip(
        ns,
        "vx2",
        ~w(link add vx2 type vxlan external vnifilter dstport 4792),
        # ip turns learning off whenever it sets external
        fn ->
          Link.create_vxlan(sock, "vx2", nil,
            external: true,
            vnifilter: true,
            port: 4792,
            learning: false
          )
        end
      )

      assert {:error, %Error{errno: :enodev, message: ~s(no such underlay interface "nope")}} =
               Link.create_vxlan(sock, "vx3", 44, dev: "nope")
    end

    test "tun and tap: ioctl options, settings applied after creation", %{ns: ns, sock: sock} do
      same_as_ip(
        ns,
        "tap0",
        ~w(tuntap add tap0 mode tap multi_queue vnet_hdr pi user 4242 group 4343),
        fn ->
          Link.create_tap(sock, "tap0",
            multi_queue: true,
            vnet_hdr: true,
            pi: true,
            owner: 4242,
            group: 4343
          )
        end
      )

      same_as_ip(ns, "tun0", ~w(tuntap add tun0 mode tun), fn -> Link.create_tun(sock, "tun0") end)

      Sandbox.ip!(ns.name, ~w(link add br0 type bridge))

      assert :ok =
               Link.create_tap(sock, "tap1",
                 address: "02:00:00:00:00:77",
                 mtu: 1400,
                 txqlen: 42,
                 up: true,
                 master: "br0"
               )

      assert %{"mtu" => 1400, "txqlen" => 42, "master" => "br0", "flags" => flags} =
               tap1 = show(ns, "tap1")

      assert tap1["address"] == "02:00:00:00:00:77"
      assert "UP" in flags
      assert tap1["linkinfo"]["info_data"]["persist"] == true

      # Decoded by Linx too.
      {:ok, link} = Link.get(sock, "tap1")
      assert %Tun{type: 2, persist: 1, pi: 0} = link.linkinfo.info_data

      # Only in the socket's netns, never the host's.
      assert {_, status} = System.cmd("ip", ~w(link show dev tap1), stderr_to_stdout: true)
      assert status != 0

      assert {:error,
              %Error{
                errno: :eexist,
                operation: :create_tun,
                object: "tap1",
                message: ~s(an interface named "tap1" already exists)
              }} = Link.create_tun(sock, "tap1")

      assert {:error, %Error{errno: :eexist}} = Link.create_tap(sock, "br0")

      # A failed follow-up change removes the device again.
      assert {:error, %Error{errno: :einval, operation: :create_tap, object: "tap2"}} =
               Link.create_tap(sock, "tap2", mtu: 10)

      refute exists?(ns, "tap2")

      # A missing master is found out before anything is created.
      assert {:error, %Error{errno: :enodev, message: ~s(no such master interface "nobr")}} =
               Link.create_tap(sock, "tap3", master: "nobr")

      refute exists?(ns, "tap3")
    end

    test "tun in a socket opened by pid", %{ns: ns} do
      {pid, stop} = process_in(ns)
      {:ok, sock} = Rtnl.open({:pid, pid})
      assert :ok = Link.create_tun(sock, "tunp")
      stop.()
      Socket.close(sock)
      assert show(ns, "tunp")["linkinfo"]["info_data"]["type"] == "tun"
    end
  end

  describe "deleting" do
    test "by name and by ifindex; a missing link is ENODEV naming it", %{ns: ns, sock: sock} do
      Sandbox.ip!(ns.name, ~w(link add d0 type veth peer name d1))
      Sandbox.ip!(ns.name, ~w(link add br0 type bridge))
      Sandbox.ip!(ns.name, ~w(tuntap add t0 mode tap))
      {:ok, %Link{index: br}} = Link.get(sock, "br0")

      assert :ok = Link.delete(sock, "d0")
      assert :ok = Link.delete(sock, br)
      assert :ok = Link.delete(sock, "t0")
      refute exists?(ns, "d1") or exists?(ns, "br0") or exists?(ns, "t0")

      assert {:error,
              %Error{
                errno: :enodev,
                operation: :delete,
                object: "d0",
                message: ~s(no such interface "d0")
              }} = Link.delete(sock, "d0")

      assert {:error, %Error{errno: :enodev, object: ^br}} = Link.delete(sock, br)
    end
  end

  describe "changing" do
    setup %{ns: ns, sock: sock} do
      Sandbox.ip!(ns.name, ~w(link add s0 type veth peer name s1))
      {:ok, %Link{index: index}} = Link.get(sock, "s0")
      %{index: index}
    end

    test "up and down, by name and by ifindex", %{ns: ns, sock: sock, index: index} do
      assert :ok = Link.set_up(sock, "s0")
      assert "UP" in show(ns, "s0")["flags"]
      assert :ok = Link.set_down(sock, index)
      refute "UP" in show(ns, "s0")["flags"]

      assert {:error, %Error{errno: :enodev, operation: :set_up, object: "gone"}} =
               Link.set_up(sock, "gone")
    end

    test "mtu, txqlen; a value the device refuses is the kernel's error", %{ns: ns, sock: sock} do
      assert :ok = Link.set_mtu(sock, "s0", 9000)
      assert :ok = Link.set_txqlen(sock, "s0", 5)
      assert %{"mtu" => 9000, "txqlen" => 5} = show(ns, "s0")

      assert {:error,
              %Error{
                errno: :einval,
                operation: :set_mtu,
                object: "s0",
                message: "mtu less than device minimum"
              }} = Link.set_mtu(sock, "s0", 10)
    end

    test "address, as a string or a MAC", %{ns: ns, sock: sock, index: index} do
      assert :ok = Link.set_address(sock, "s0", "02:AA:00:00:00:01")
      assert show(ns, "s0")["address"] == "02:aa:00:00:00:01"
      assert :ok = Link.set_address(sock, index, Linx.MAC.parse!("02:00:00:00:00:02"))
      assert show(ns, "s0")["address"] == "02:00:00:00:00:02"

      # a multicast MAC is the kernel's EADDRNOTAVAIL
      assert {:error, %Error{errno: :eaddrnotavail, operation: :set_address}} =
               Link.set_address(sock, "s0", "01:00:00:00:00:01")
    end

    test "name, by name and by ifindex; a taken name is refused", %{
      ns: ns,
      sock: sock,
      index: index
    } do
      assert :ok = Link.set_name(sock, "s0", "renamed0")
      assert show(ns, "renamed0")["ifindex"] == index
      assert :ok = Link.set_name(sock, index, "renamed1")
      assert show(ns, "renamed1")["ifindex"] == index

      assert {:error, %Error{errno: :enodev, message: ~s(no such interface "s0")}} =
               Link.set_name(sock, "s0", "x")

      assert {:error, %Error{errno: :eexist, operation: :set_name, object: "renamed1"}} =
               Link.set_name(sock, "renamed1", "s1")
    end

    test "promiscuous mode on and off", %{ns: ns, sock: sock} do
      assert :ok = Link.set_promisc(sock, "s0", true)
      assert %{"promiscuity" => 1, "flags" => flags} = show(ns, "s0")
      assert "PROMISC" in flags
      assert :ok = Link.set_promisc(sock, "s0", false)
      assert %{"promiscuity" => 0, "flags" => flags} = show(ns, "s0")
      refute "PROMISC" in flags
    end

    test "alias set and removed", %{ns: ns, sock: sock} do
      assert :ok = Link.set_alias(sock, "s0", "uplink to the lab")
      assert show(ns, "s0")["ifalias"] == "uplink to the lab"
      {:ok, link} = Link.get(sock, "s0")
      assert link.ifalias == "uplink to the lab"
      assert :ok = Link.set_alias(sock, "s0", nil)
      refute Map.has_key?(show(ns, "s0"), "ifalias")
    end

    test "IPv6 address generation mode", %{ns: ns, sock: sock} do
      for {mode, ip} <- [none: "none", random: "random", eui64: "eui64"] do
        assert :ok = Link.set_addrgenmode(sock, "s0", mode)
        assert show(ns, "s0")["inet6_addr_gen_mode"] == ip
        {:ok, link} = Link.get(sock, "s0")
        assert Link.addr_gen_mode(link) == mode
      end

      # stable_secret without a secret configured: the kernel's EINVAL, as ip gets it
      assert {_, status} =
               System.cmd("ip", ~w(-n #{ns.name} link set s0 addrgenmode stable_secret),
                 stderr_to_stdout: true
               )

      assert status != 0

      assert {:error, %Error{errno: :einval, operation: :set_addrgenmode, object: "s0"}} =
               Link.set_addrgenmode(sock, "s0", :stable_secret)
    end

    test "master and nomaster", %{ns: ns, sock: sock, index: index} do
      Sandbox.ip!(ns.name, ~w(link add br0 type bridge))
      {:ok, %Link{index: br}} = Link.get(sock, "br0")

      assert :ok = Link.set_master(sock, "s0", "br0")
      assert show(ns, "s0")["master"] == "br0"
      assert :ok = Link.set_nomaster(sock, "s0")
      refute Map.has_key?(show(ns, "s0"), "master")
      assert :ok = Link.set_master(sock, index, br)
      assert show(ns, "s0")["master"] == "br0"

      assert {:error,
              %Error{
                errno: :enodev,
                operation: :set_master,
                object: "s1",
                message: ~s(no such master interface "nobr")
              }} = Link.set_master(sock, "s1", "nobr")
    end

    test "alternative names: add, name the link by one, delete", %{ns: ns, sock: sock} do
      long = "the-long-alternative-name-of-s0"
      assert :ok = Link.add_altname(sock, "s0", long)
      assert :ok = Link.add_altname(sock, "s0", ["alt-s0", "alt2-s0"])
      assert show(ns, "s0")["altnames"] == [long, "alt-s0", "alt2-s0"]

      # an alternative name works as the link's name
      assert :ok = Link.set_mtu(sock, "alt-s0", 1300)
      assert show(ns, "s0")["mtu"] == 1300
      {:ok, link} = Link.get(sock, "alt2-s0")
      assert link.name == "s0"
      assert link.alt_names == [long, "alt-s0", "alt2-s0"]

      assert {:error, %Error{errno: :eexist, operation: :add_altname, object: "s1"}} =
               Link.add_altname(sock, "s1", "alt-s0")

      assert :ok = Link.delete_altname(sock, "s0", ["alt-s0", long])
      assert show(ns, "s0")["altnames"] == ["alt2-s0"]

      assert {:error, %Error{errno: :enodev, operation: :delete_altname}} =
               Link.delete_altname(sock, "nope", "x")
    end

    test "bridge port settings, compared with ip's bridge_slave", %{ns: ns, sock: sock} do
      Sandbox.ip!(ns.name, ~w(link add br0 type bridge))
      Sandbox.ip!(ns.name, ~w(link add p0 type veth peer name q0))
      Sandbox.ip!(ns.name, ~w(link add p1 type veth peer name q1))
      Sandbox.ip!(ns.name, ~w(link add p2 type veth peer name q2))
      for p <- ~w(p0 p1 p2), do: :ok = Link.set_master(sock, p, "br0")
      # a port's STP state can only be set while it is running
      for l <- ~w(br0 p0 q0 p1 q1 p2 q2), do: :ok = Link.set_up(sock, l)

      Sandbox.ip!(
        ns.name,
        ~w(link set p0 type bridge_slave cost 7 priority 16 hairpin on learning off flood off
           guard on root_block on mcast_flood off bcast_flood off isolated on
           neigh_suppress on mcast_router 2 group_fwd_mask 0x4004 mcast_to_unicast on
           proxy_arp on state 4 backup_port p2)
      )

      assert :ok =
               Link.set_bridge_port(sock, "p1",
                 cost: 7,
                 priority: 16,
                 hairpin: true,
                 learning: false,
                 flood: false,
                 guard: true,
                 root_block: true,
                 mcast_flood: false,
                 bcast_flood: false,
                 isolated: true,
                 neigh_suppress: true,
                 mcast_router: 2,
                 group_fwd_mask: 0x4004,
                 mcast_to_unicast: true,
                 proxy_arp: true,
                 state: :blocking,
                 backup_port: "p2"
               )

      by_ip = comparable(show(ns, "p0"), false)["linkinfo"]["info_slave_data"]
      by_linx = comparable(show(ns, "p1"), false)["linkinfo"]["info_slave_data"]
      assert by_linx == by_ip

      assert %{"cost" => 7, "hairpin" => true, "backup_port" => "p2"} =
               by_linx

      {:ok, link} = Link.get(sock, "p1")
      assert %BridgePort{cost: 7, mode: 1, learning: 0} = link.linkinfo.slave_data
      # with STP off the bridge puts a running port back to forwarding, for ip as for Linx
      assert BridgePort.state_name(link.linkinfo.slave_data) == :forwarding

      assert :ok = Link.set_bridge_port(sock, "p1", backup_port: :none, state: :forwarding)
      data = show(ns, "p1")["linkinfo"]["info_slave_data"]
      refute Map.has_key?(data, "backup_port")
      assert data["state"] == "forwarding"

      assert {:error, %Error{errno: :eopnotsupp, operation: :set_bridge_port, object: "s0"}} =
               Link.set_bridge_port(sock, "s0", cost: 5)

      # under kernel STP the port state is the kernel's to set
      Sandbox.ip!(ns.name, ~w(link set br0 type bridge stp_state 1))

      assert {:error, %Error{errno: :ebusy, operation: :set_bridge_port, object: "p1"}} =
               Link.set_bridge_port(sock, "p1", state: :blocking)

      assert {:error, %Error{errno: :enodev, message: ~s(no such backup_port interface "nope")}} =
               Link.set_bridge_port(sock, "p1", backup_port: "nope")
    end
  end

  describe "moving to another netns" do
    setup %{ns: ns} do
      Sandbox.ip!(ns.name, ~w(link add m0 type veth peer name m1))
      Sandbox.ip!(ns.name, ~w(link add m2 type veth peer name m3))
      %{other: Sandbox.netns!(tag: "dest")}
    end

    test "by pid (0.2's form), {:pid, pid}, {:path, path} and {:fd, fd}",
         %{ns: ns, sock: sock, other: other} do
      {pid, stop} = process_in(other)
      assert :ok = Link.move_to_netns(sock, "m0", pid)
      assert :ok = Link.move_to_netns(sock, "m1", {:pid, pid})
      stop.()

      {:ok, %Link{index: m2}} = Link.get(sock, "m2")
      before = netns_fds()
      assert :ok = Link.move_to_netns(sock, m2, {:path, other.path})
      assert netns_fds() == before, "the netns file opened for the request is closed"

      {:ok, {handle, fd}} = Native.open_ns_file(other.path)
      assert :ok = Link.move_to_netns(sock, "m3", {:fd, fd})
      assert Native.ns_file_open?(handle), "a caller's fd is left open"
      :ok = Native.close_ns_file(handle)

      for l <- ~w(m0 m1 m2 m3), do: assert(exists?(other, l) and not exists?(ns, l))
    end

    test "failures: a missing file, a file that is no netns, a gone link",
         %{ns: ns, sock: sock, other: other} do
      before = netns_fds()

      assert {:error,
              %Error{
                errno: :enoent,
                operation: :move_to_netns,
                object: "m0",
                message: ~s(cannot open netns file "/run/netns/linx-no-such-ns")
              }} = Link.move_to_netns(sock, "m0", {:path, "/run/netns/linx-no-such-ns"})

      # a regular file opens, and the kernel refuses it as a netns
      assert {:error, %Error{errno: :einval, operation: :move_to_netns}} =
               Link.move_to_netns(sock, "m0", {:path, "/proc/self/status"})

      assert {:error, %Error{errno: :enodev, message: ~s(no such interface "gone")}} =
               Link.move_to_netns(sock, "gone", {:path, other.path})

      assert netns_fds() == before
      assert exists?(ns, "m0")
    end
  end

  describe "netns files (IFLA_NET_NS_FD)" do
    test "opened close-on-exec, closed by close_ns_file or when collected", %{ns: ns} do
      {:ok, {handle, fd}} = Native.open_ns_file(ns.path)
      assert File.read_link("/proc/self/fd/#{fd}") == {:ok, ns.path}
      # /proc/PID/fdinfo flags are octal; O_CLOEXEC is 02000000
      flags = fdinfo_flags(fd)
      assert Bitwise.band(flags, 0o2000000) != 0
      assert Native.ns_file_open?(handle)
      assert :ok = Native.close_ns_file(handle)
      refute Native.ns_file_open?(handle)
      assert :ok = Native.close_ns_file(handle)
      refute File.read_link("/proc/self/fd/#{fd}") == {:ok, ns.path}

      # a process that dies holding one: the resource's destructor closes it
      before = netns_fds()
      parent = self()

      spawn(fn ->
        {:ok, {_handle, fd}} = Native.open_ns_file(ns.path)
        send(parent, {:opened, fd})
      end)

      assert_receive {:opened, _fd}
      assert eventually(fn -> netns_fds() == before end)

      assert {:error, {:open, 2}} = Native.open_ns_file("/run/netns/linx-no-such-ns")
      assert {:error, {:open, 22}} = Native.open_ns_file("/run/netns/a\0b")
    end
  end

  # A process living in `ns` (ip netns exec execs sleep, keeping the pid) and a function
  # that stops it.
  defp process_in(ns) do
    port =
      Port.open({:spawn_executable, System.find_executable("ip")}, [
        :binary,
        args: ["netns", "exec", ns.name, "sleep", "60"]
      ])

    {:os_pid, pid} = Port.info(port, :os_pid)
    # both name the netns through its nsfs inode
    target = File.stat!(ns.path).inode

    assert eventually(fn ->
             match?({:ok, %File.Stat{inode: ^target}}, File.stat("/proc/#{pid}/ns/net"))
           end)

    # ending sleep closes the port too
    stop = fn -> System.cmd("kill", [Integer.to_string(pid)]) end

    on_exit(fn -> System.cmd("kill", [Integer.to_string(pid)], stderr_to_stdout: true) end)
    {pid, stop}
  end

  # descriptors open on a netns: "net:[inode]" for /proc/PID/ns/net, the bind mount's path
  # for /run/netns/NAME
  defp netns_fds do
    for fd <- File.ls!("/proc/self/fd"),
        {:ok, target} <- [File.read_link("/proc/self/fd/#{fd}")],
        String.starts_with?(target, ["net:", "/run/netns/"]),
        do: fd
  end

  defp fdinfo_flags(fd) do
    "/proc/self/fdinfo/#{fd}"
    |> File.read!()
    |> String.split("\n")
    |> Enum.find_value(fn
      "flags:" <> rest -> rest |> String.trim() |> String.to_integer(8)
      _ -> nil
    end)
  end

  defp eventually(fun, tries \\ 100) do
    cond do
      fun.() -> true
      tries == 0 -> false
      true -> Process.sleep(20) && eventually(fun, tries - 1)
    end
  end
end
