defmodule Linx.Netlink.Rtnl.LinkRequestTest.FakeKernel do
  # A `%Linx.Netlink.Socket{}` whose `:socket` is a UDP socket connected to a process that
  # plays the kernel: it forwards every datagram the verb sends to the test process and
  # answers it with an ack (NLMSG_ERROR, errno 0) carrying the request's sequence number.
  # It lets a test see the exact bytes a verb puts on the wire, for any kind, without a
  # kernel that knows the kind, and prove that a rejected call sent nothing at all.

  alias Linx.Netlink.{Message, Socket}

  def socket do
    test = self()

    kernel =
      spawn_link(fn ->
        {:ok, udp} = :gen_udp.open(0, [:binary, active: false, ip: {127, 0, 0, 1}])
        {:ok, port} = :inet.port(udp)
        send(test, {:fake_kernel_port, port})
        serve(udp, test)
      end)

    port =
      receive do
        {:fake_kernel_port, port} -> port
      end

    {:ok, s} = :socket.open(:inet, :dgram, :udp)
    :ok = :socket.bind(s, %{family: :inet, addr: {127, 0, 0, 1}, port: 0})
    :ok = :socket.connect(s, %{family: :inet, addr: {127, 0, 0, 1}, port: port})

    ExUnit.Callbacks.on_exit(fn ->
      :socket.close(s)
      Process.exit(kernel, :kill)
    end)

    %Socket{socket: s, netns: :host, protocol: 0, seq: :atomics.new(1, signed: false)}
  end

  defp serve(udp, test) do
    {:ok, {addr, port, request}} = :gen_udp.recv(udp, 0)
    send(test, {:sent, request})
    <<_len::native-32, _type::native-16, _flags::native-16, seq::native-32, _::binary>> = request
    <<header::binary-size(16), _::binary>> = request

    # NLMSG_ERROR (2) with errno 0, echoing the request header (NLM_F_CAPPED, 0x100)
    ack = Message.encode(%Message{type: 2, flags: 0x100, seq: seq, payload: <<0::32>> <> header})
    :ok = :gen_udp.send(udp, addr, port, ack)
    serve(udp, test)
  end

  # Every datagram sent so far, oldest first.
  def sent(acc \\ []) do
    receive do
      {:sent, bytes} -> sent([bytes | acc])
    after
      0 -> Enum.reverse(acc)
    end
  end
end

defmodule Linx.Netlink.Rtnl.LinkRequestTest do
  # What the verbs send, byte for byte, and what they refuse to send.
  #
  # The fixtures are written out by hand from the uapi layouts, never produced by Linx's
  # encoder:
  #   * struct nlmsghdr (/usr/include/linux/netlink.h): u32 nlmsg_len, u16 nlmsg_type,
  #     u16 nlmsg_flags, u32 nlmsg_seq, u32 nlmsg_pid;
  #   * struct ifinfomsg (/usr/include/linux/rtnetlink.h): u8 ifi_family, u8 pad,
  #     u16 ifi_type, s32 ifi_index, u32 ifi_flags, u32 ifi_change;
  #   * struct nlattr: u16 nla_len (header + payload, without padding), u16 nla_type,
  #     payload, zero padding to a multiple of 4;
  #   * IFLA_*, IFLA_INFO_*, IFLA_VLAN_*, IFLA_IPVLAN_* from /usr/include/linux/if_link.h,
  #     VETH_INFO_PEER from veth.h, RTM_* from rtnetlink.h, NLM_F_* from netlink.h.
  # Integers are native-endian (the golden bytes spell little-endian hosts).
  #
  # Nested attributes that rtnetlink parses leniently (IFLA_LINKINFO, IFLA_INFO_DATA, the
  # VLAN QoS lists, the veth peer) go without NLA_F_NESTED, as the kernel's
  # nlmsg_parse_deprecated accepts; IFLA_PROP_LIST and IFLA_AF_SPEC carry it, as iproute2
  # sends them.
  #
  # The kinds this test kernel lacks (dummy, ipvlan, vlan) are also run live: the kernel's
  # answer must be what `ip link add` gets, with the extended-ack text.
  use ExUnit.Case, async: false

  alias Linx.Netlink.{Error, Rtnl, Socket}
  alias Linx.Netlink.Rtnl.Link
  alias Linx.Netlink.Rtnl.LinkRequestTest.FakeKernel
  alias Linx.Test.Sandbox

  if System.endianness() == :big do
    @moduletag skip: "the golden bytes spell a little-endian host"
  end

  # NLM_F_REQUEST 0x1 | NLM_F_ACK 0x4
  @ack 0x0005
  # ... | NLM_F_EXCL 0x200 | NLM_F_CREATE 0x400
  @create 0x0605

  defp sent_by(fun) do
    sock = FakeKernel.socket()
    assert :ok = fun.(sock)
    FakeKernel.sent()
  end

  describe "kinds this kernel lacks: request bytes against hand-written fixtures" do
    test "create_dummy with the common options" do
      fixture = <<
        # nlmsghdr: len 88 = 16 + ifinfomsg 16 + attributes 12 + 12 + 8 + 8 + 16,
        # RTM_NEWLINK (16), REQUEST|ACK|EXCL|CREATE, seq 1, pid 0
        88::little-32,
        16::little-16,
        @create::little-16,
        1::little-32,
        0::little-32,
        # ifinfomsg: AF_UNSPEC, pad, type 0, index 0, flags IFF_UP, change IFF_UP
        0,
        0,
        0::little-16,
        0::little-32,
        1::little-32,
        1::little-32,
        # IFLA_ADDRESS (1): 6 bytes -> nla_len 10, 2 bytes padding
        10::little-16,
        1::little-16,
        0x02,
        0,
        0,
        0,
        0,
        0x01,
        0,
        0,
        # IFLA_IFNAME (3): "dummy0\0" -> nla_len 11, 1 byte padding
        11::little-16,
        3::little-16,
        "dummy0",
        0,
        0,
        # IFLA_MTU (4): u32 1400
        8::little-16,
        4::little-16,
        1400::little-32,
        # IFLA_TXQLEN (13): u32 10
        8::little-16,
        13::little-16,
        10::little-32,
        # IFLA_LINKINFO (18), 16 bytes: IFLA_INFO_KIND (1) "dummy\0" -> nla_len 10, pad 2
        16::little-16,
        18::little-16,
        10::little-16,
        1::little-16,
        "dummy",
        0,
        0,
        0
      >>

      assert [^fixture] =
               sent_by(
                 &Link.create_dummy(&1, "dummy0",
                   address: "02:00:00:00:00:01",
                   mtu: 1400,
                   txqlen: 10,
                   up: true
                 )
               )
    end

    test "create_ipvlan in l3s mode with the vepa flag, parent by ifindex" do
      fixture = <<
        # nlmsghdr: len 88, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE, seq 1, pid 0
        88::little-32,
        16::little-16,
        @create::little-16,
        1::little-32,
        0::little-32,
        # ifinfomsg, all zero
        0::128,
        # IFLA_IFNAME (3): "ipv0\0" -> nla_len 9, 3 bytes padding
        9::little-16,
        3::little-16,
        "ipv0",
        0,
        0,
        0,
        0,
        # IFLA_LINK (5): parent ifindex 7
        8::little-16,
        5::little-16,
        7::little-32,
        # IFLA_LINKINFO (18), 36 bytes
        36::little-16,
        18::little-16,
        # IFLA_INFO_KIND (1): "ipvlan\0" -> nla_len 11, 1 byte padding
        11::little-16,
        1::little-16,
        "ipvlan",
        0,
        0,
        # IFLA_INFO_DATA (2), 20 bytes
        20::little-16,
        2::little-16,
        # IFLA_IPVLAN_MODE (1): u16 IPVLAN_MODE_L3S (2) -> nla_len 6, 2 bytes padding
        6::little-16,
        1::little-16,
        2::little-16,
        0::16,
        # IFLA_IPVLAN_FLAGS (2): u16 IPVLAN_F_VEPA (2)
        6::little-16,
        2::little-16,
        2::little-16,
        0::16
      >>

      assert [^fixture] = sent_by(&Link.create_ipvlan(&1, "ipv0", 7, :l3s, flag: :vepa))
    end

    test "create_vlan with 802.1ad, flags and both QoS maps" do
      fixture = <<
        # nlmsghdr: len 132, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE, seq 1, pid 0
        132::little-32,
        16::little-16,
        @create::little-16,
        1::little-32,
        0::little-32,
        # ifinfomsg, all zero
        0::128,
        # IFLA_IFNAME (3): "vlan5\0" -> nla_len 10, 2 bytes padding
        10::little-16,
        3::little-16,
        "vlan5",
        0,
        0,
        0,
        # IFLA_LINK (5): parent ifindex 2
        8::little-16,
        5::little-16,
        2::little-32,
        # IFLA_LINKINFO (18), 80 bytes
        80::little-16,
        18::little-16,
        # IFLA_INFO_KIND (1): "vlan\0" -> nla_len 9, 3 bytes padding
        9::little-16,
        1::little-16,
        "vlan",
        0,
        0,
        0,
        0,
        # IFLA_INFO_DATA (2), 64 bytes
        64::little-16,
        2::little-16,
        # IFLA_VLAN_ID (1): u16 5 -> nla_len 6, 2 bytes padding
        6::little-16,
        1::little-16,
        5::little-16,
        0::16,
        # IFLA_VLAN_FLAGS (2): struct ifla_vlan_flags {flags, mask}: reorder_hdr (1) off,
        # gvrp (2) on -> flags 2, mask 3
        12::little-16,
        2::little-16,
        2::little-32,
        3::little-32,
        # IFLA_VLAN_EGRESS_QOS (3) { IFLA_VLAN_QOS_MAPPING (1) {from 6, to 5} }
        16::little-16,
        3::little-16,
        12::little-16,
        1::little-16,
        6::little-32,
        5::little-32,
        # IFLA_VLAN_INGRESS_QOS (4) { IFLA_VLAN_QOS_MAPPING (1) {from 3, to 4} }
        16::little-16,
        4::little-16,
        12::little-16,
        1::little-16,
        3::little-32,
        4::little-32,
        # IFLA_VLAN_PROTOCOL (5): be16 ETH_P_8021AD 0x88a8 -> nla_len 6, 2 bytes padding
        6::little-16,
        5::little-16,
        0x88,
        0xA8,
        0::16
      >>

      assert [^fixture] =
               sent_by(
                 &Link.create_vlan(&1, "vlan5", 2, 5,
                   protocol: :"802.1ad",
                   reorder_hdr: false,
                   gvrp: true,
                   egress_qos: %{6 => 5},
                   ingress_qos: [{3, 4}]
                 )
               )
    end
  end

  describe "other requests against hand-written fixtures" do
    test "create_veth: the peer is a whole ifinfomsg with its own attributes" do
      fixture = <<
        # nlmsghdr: len 96 = 16 + 16 + 8 + 56, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE
        96::little-32,
        16::little-16,
        @create::little-16,
        1::little-32,
        0::little-32,
        0::128,
        # IFLA_IFNAME (3): "va\0" -> nla_len 7, 1 byte padding
        7::little-16,
        3::little-16,
        "va",
        0,
        0,
        # IFLA_LINKINFO (18), 56 bytes
        56::little-16,
        18::little-16,
        # IFLA_INFO_KIND (1): "veth\0" -> nla_len 9, 3 bytes padding
        9::little-16,
        1::little-16,
        "veth",
        0,
        0,
        0,
        0,
        # IFLA_INFO_DATA (2), 40 bytes
        40::little-16,
        2::little-16,
        # VETH_INFO_PEER (1), 36 bytes: struct ifinfomsg (all zero), then attributes
        36::little-16,
        1::little-16,
        0::128,
        # IFLA_IFNAME (3): "vb\0"
        7::little-16,
        3::little-16,
        "vb",
        0,
        0,
        # IFLA_NET_NS_PID (19): u32 4242
        8::little-16,
        19::little-16,
        4242::little-32
      >>

      assert [^fixture] = sent_by(&Link.create_veth(&1, "va", "vb", peer: [netns: 4242]))
    end

    test "set_mtu by name puts IFLA_IFNAME in the request: one message, no lookup" do
      fixture = <<
        # nlmsghdr: len 52 = 16 + 16 + 12 + 8, RTM_NEWLINK, REQUEST|ACK (no CREATE: ENODEV
        # if it is gone)
        52::little-32,
        16::little-16,
        @ack::little-16,
        1::little-32,
        0::little-32,
        0::128,
        # IFLA_IFNAME (3): "eth0\0" -> nla_len 9, 3 bytes padding
        9::little-16,
        3::little-16,
        "eth0",
        0,
        0,
        0,
        0,
        # IFLA_MTU (4): u32 9000
        8::little-16,
        4::little-16,
        9000::little-32
      >>

      assert [^fixture] = sent_by(&Link.set_mtu(&1, "eth0", 9000))
    end

    test "set_promisc by ifindex: the flag and the change mask, index in the header" do
      fixture = <<
        32::little-32,
        16::little-16,
        @ack::little-16,
        1::little-32,
        0::little-32,
        # ifinfomsg: index 5, flags IFF_PROMISC (0x100), change IFF_PROMISC
        0,
        0,
        0::little-16,
        5::little-32,
        0x100::little-32,
        0x100::little-32
      >>

      assert [^fixture] = sent_by(&Link.set_promisc(&1, 5, true))
    end

    test "set_alias sends the text without a NUL; nil sends an empty attribute" do
      set = <<
        # len 44 = 16 + 16 + 12
        44::little-32,
        16::little-16,
        @ack::little-16,
        1::little-32,
        0::little-32,
        0,
        0,
        0::little-16,
        3::little-32,
        0::64,
        # IFLA_IFALIAS (20): "uplink" (no NUL) -> nla_len 10, 2 bytes padding
        10::little-16,
        20::little-16,
        "uplink",
        0,
        0
      >>

      clear = <<
        36::little-32,
        16::little-16,
        @ack::little-16,
        2::little-32,
        0::little-32,
        0,
        0,
        0::little-16,
        3::little-32,
        0::64,
        # IFLA_IFALIAS (20), empty: nla_len 4
        4::little-16,
        20::little-16
      >>

      sock = FakeKernel.socket()
      assert :ok = Link.set_alias(sock, 3, "uplink")
      assert :ok = Link.set_alias(sock, 3, nil)
      assert FakeKernel.sent() == [set, clear]
    end

    test "add_altname: RTM_NEWLINKPROP with a nested IFLA_PROP_LIST" do
      fixture = <<
        # nlmsghdr: len 60 = 16 + 16 + 28, RTM_NEWLINKPROP (108), REQUEST|ACK|EXCL|CREATE
        60::little-32,
        108::little-16,
        @create::little-16,
        1::little-32,
        0::little-32,
        # ifinfomsg: index 4
        0,
        0,
        0::little-16,
        4::little-32,
        0::64,
        # IFLA_PROP_LIST (52 | NLA_F_NESTED 0x8000), 28 bytes = 4 + 16 + 8
        28::little-16,
        0x8034::little-16,
        # IFLA_ALT_IFNAME (53): "uplink-a\0" -> nla_len 13, 3 bytes padding
        13::little-16,
        53::little-16,
        "uplink-a",
        0,
        0,
        0,
        0,
        # IFLA_ALT_IFNAME (53): "u2\0" -> nla_len 7, 1 byte padding
        7::little-16,
        53::little-16,
        "u2",
        0,
        0
      >>

      assert [^fixture] = sent_by(&Link.add_altname(&1, 4, ["uplink-a", "u2"]))
    end

    test "set_addrgenmode: IFLA_AF_SPEC { AF_INET6 { IFLA_INET6_ADDR_GEN_MODE } }" do
      fixture = <<
        48::little-32,
        16::little-16,
        @ack::little-16,
        1::little-32,
        0::little-32,
        0,
        0,
        0::little-16,
        9::little-32,
        0::64,
        # IFLA_AF_SPEC (26 | NLA_F_NESTED), 16 bytes
        16::little-16,
        0x801A::little-16,
        # AF_INET6 (10 | NLA_F_NESTED), 12 bytes
        12::little-16,
        0x800A::little-16,
        # IFLA_INET6_ADDR_GEN_MODE (8): u8 IN6_ADDR_GEN_MODE_RANDOM (3), 3 bytes padding
        5::little-16,
        8::little-16,
        3,
        0,
        0,
        0
      >>

      assert [^fixture] = sent_by(&Link.set_addrgenmode(&1, 9, :random))
    end

    test "delete by name and move_to_netns by pid" do
      delete = <<
        # len 44 = 16 + 16 + 12, RTM_DELLINK (17), REQUEST|ACK
        44::little-32,
        17::little-16,
        @ack::little-16,
        1::little-32,
        0::little-32,
        0::128,
        # IFLA_IFNAME (3): "gone0\0" -> nla_len 10, 2 bytes padding
        10::little-16,
        3::little-16,
        "gone0",
        0,
        0,
        0
      >>

      move = <<
        40::little-32,
        16::little-16,
        @ack::little-16,
        2::little-32,
        0::little-32,
        0,
        0,
        0::little-16,
        6::little-32,
        0::64,
        # IFLA_NET_NS_PID (19): u32 1234
        8::little-16,
        19::little-16,
        1234::little-32
      >>

      sock = FakeKernel.socket()
      assert :ok = Link.delete(sock, "gone0")
      assert :ok = Link.move_to_netns(sock, 6, {:pid, 1234})
      assert FakeKernel.sent() == [delete, move]
    end

    test "set_bridge_port: IFLA_INFO_SLAVE_KIND and IFLA_INFO_SLAVE_DATA only" do
      fixture = <<
        # len 68 = 16 + 16 + 36
        68::little-32,
        16::little-16,
        @ack::little-16,
        1::little-32,
        0::little-32,
        0,
        0,
        0::little-16,
        8::little-32,
        0::64,
        # IFLA_LINKINFO (18), 36 bytes = 4 + 12 + 20
        36::little-16,
        18::little-16,
        # IFLA_INFO_SLAVE_KIND (4): "bridge\0" -> nla_len 11, 1 byte padding
        11::little-16,
        4::little-16,
        "bridge",
        0,
        0,
        # IFLA_INFO_SLAVE_DATA (5), 20 bytes = 4 + 8 + 8
        20::little-16,
        5::little-16,
        # IFLA_BRPORT_COST (3): u32 10
        8::little-16,
        3::little-16,
        10::little-32,
        # IFLA_BRPORT_MODE (4): u8 1 (hairpin), 3 bytes padding
        5::little-16,
        4::little-16,
        1,
        0,
        0,
        0
      >>

      assert [^fixture] = sent_by(&Link.set_bridge_port(&1, 8, hairpin: true, cost: 10))
    end
  end

  describe "live: kinds this kernel may lack get the kernel's refusal, as ip does" do
    @describetag :root
    @describetag :iproute2

    setup do
      ns = Sandbox.netns!(tag: "req")
      Sandbox.ip!(ns.name, ~w(link add lxp0 type veth peer name lxp1))
      {:ok, sock} = Rtnl.open({:path, ns.path})
      on_exit(fn -> Socket.close(sock) end)
      {:ok, %Link{index: parent}} = Link.get(sock, "lxp0")
      %{ns: ns, sock: sock, parent: parent}
    end

    # `ip link add` with the same kind tells what the kernel supports; Linx must then
    # either be refused the same way (EOPNOTSUPP, "Unknown device type") or succeed.
    defp same_as_ip(ns, ip_args, name, kind, result, op) do
      case System.cmd("ip", ["-n", ns.name, "link", "add" | ip_args], stderr_to_stdout: true) do
        {out, status} when status != 0 ->
          assert out =~ "Unknown device type"

          assert {:error,
                  %Error{
                    errno: :eopnotsupp,
                    code: 95,
                    message: "Unknown device type",
                    operation: ^op,
                    object: ^name
                  }} = result.()

        {_, 0} ->
          # the kernel has the kind: ip's link goes, Linx's must be created
          Sandbox.ip!(ns.name, ["link", "delete", hd(ip_args)])
          assert :ok = result.()

          assert [%{"linkinfo" => %{"info_kind" => ^kind}}] =
                   Sandbox.ip_json!(ns.name, ["-d", "link", "show", "dev", name])
      end
    end

    test "dummy", %{ns: ns, sock: sock} do
      same_as_ip(
        ns,
        ~w(ipdummy0 type dummy),
        "dummy0",
        "dummy",
        fn -> Link.create_dummy(sock, "dummy0", mtu: 1400) end,
        :create_dummy
      )
    end

    test "ipvlan", %{ns: ns, sock: sock, parent: parent} do
      same_as_ip(
        ns,
        ~w(ipipv0 link lxp0 type ipvlan mode l3s),
        "ipv0",
        "ipvlan",
        fn -> Link.create_ipvlan(sock, "ipv0", parent, :l3s, flag: :vepa) end,
        :create_ipvlan
      )

      # the 0.2 arity and the default mode, parent by name
      same_as_ip(
        ns,
        ~w(ipipv1 link lxp0 type ipvlan),
        "ipv1",
        "ipvlan",
        fn -> Link.create_ipvlan(sock, "ipv1", "lxp0") end,
        :create_ipvlan
      )
    end

    test "vlan", %{ns: ns, sock: sock, parent: parent} do
      same_as_ip(
        ns,
        ~w(ipvlan5 link lxp0 type vlan id 5 protocol 802.1ad),
        "vlan5",
        "vlan",
        fn ->
          Link.create_vlan(sock, "vlan5", parent, 5,
            protocol: :"802.1ad",
            gvrp: true,
            egress_qos: %{6 => 5},
            ingress_qos: [{3, 4}]
          )
        end,
        :create_vlan
      )

      same_as_ip(
        ns,
        ~w(ipvlan6 link lxp0 type vlan id 6),
        "vlan6",
        "vlan",
        fn -> Link.create_vlan(sock, "vlan6", "lxp0", 6) end,
        :create_vlan
      )
    end
  end

  describe "bad input raises ArgumentError naming the value, and sends nothing" do
    setup do
      %{sock: FakeKernel.socket()}
    end

    defp refused(sock, pattern, fun) do
      assert_raise ArgumentError, pattern, fn -> fun.(sock) end
      assert FakeKernel.sent() == []
    end

    test "names and link references", %{sock: s} do
      long = String.duplicate("n", 16)
      refused(s, ~r/#{long}/, &Link.create_dummy(&1, long))
      refused(s, ~r/:eth0/, &Link.create_dummy(&1, :eth0))
      refused(s, ~r/"a b"/, &Link.create_bridge(&1, "a b"))
      refused(s, ~r/#{long}/, &Link.create_veth(&1, "va", long))
      refused(s, ~r/-1/, &Link.delete(&1, -1))
      refused(s, ~r/:lo/, &Link.delete(&1, :lo))
      refused(s, ~r/ 0/, &Link.set_up(&1, 0))
      refused(s, ~r/2147483648/, &Link.set_down(&1, 2_147_483_648))
      refused(s, ~r/#{long}/, &Link.set_name(&1, "eth0", long))
      refused(s, ~r/-5/, &Link.set_master(&1, "eth0", -5))
      refused(s, ~r/nil/, &Link.set_nomaster(&1, nil))
      refused(s, ~r/-3/, &Link.create_macvlan(&1, "mv0", -3))
      refused(s, ~r/\{:eth, 0\}/, &Link.create_vxlan(&1, "vx0", 1, dev: {:eth, 0}))
    end

    test "every verb: a first argument that is no socket" do
      calls = [
        list: [],
        get: ["lo"],
        create_veth: ["va", "vb"],
        create_bridge: ["br0"],
        create_dummy: ["d0"],
        create_macvlan: ["mv0", 2],
        create_macvtap: ["mv0", 2],
        create_ipvlan: ["iv0", 2],
        create_vlan: ["v0", 2, 5],
        create_vxlan: ["vx0", 1],
        create_tun: ["tun0"],
        create_tap: ["tap0"],
        delete: ["eth0"],
        set_up: ["eth0"],
        set_down: ["eth0"],
        set_mtu: ["eth0", 1500],
        set_txqlen: ["eth0", 10],
        set_name: ["eth0", "eth1"],
        set_address: ["eth0", "02:00:00:00:00:01"],
        set_master: ["eth0", "br0"],
        set_nomaster: ["eth0"],
        set_promisc: ["eth0", true],
        set_alias: ["eth0", "x"],
        set_addrgenmode: ["eth0", :none],
        add_altname: ["eth0", "alt"],
        delete_altname: ["eth0", "alt"],
        set_bridge_port: ["eth0", [cost: 1]],
        move_to_netns: ["eth0", 1]
      ]

      for {verb, args} <- calls do
        assert_raise ArgumentError, ~r/#{verb}: .*got: :not_a_socket/, fn ->
          apply(Link, verb, [:not_a_socket | args])
        end
      end

      # every public verb is in the list
      verbs =
        for {name, _} <- Link.__info__(:functions),
            String.starts_with?(Atom.to_string(name), ~w(create_ set_ add_ delete move_)),
            uniq: true,
            do: name

      assert Enum.sort(verbs) -- Keyword.keys(calls) == []
    end

    test "options: not a keyword list, unknown keys", %{sock: s} do
      refused(s, ~r/\[1, 2\]/, &Link.create_dummy(&1, "d0", [1, 2]))
      refused(s, ~r/:colour/, &Link.create_dummy(&1, "d0", colour: :blue))
      refused(s, ~r/:stp_on/, &Link.create_bridge(&1, "br0", stp_on: true))
      refused(s, ~r/:master/, &Link.create_veth(&1, "va", "vb", peer: [master: "br0"]))
      refused(s, ~r/:address/, &Link.create_tun(&1, "tun0", address: "02:00:00:00:00:01"))
      refused(s, ~r/:netns/, &Link.create_tap(&1, "tap0", netns: 1))
      refused(s, ~r/:hairpinn/, &Link.set_bridge_port(&1, "eth0", hairpinn: true))
      refused(s, ~r/no bridge port option/, &Link.set_bridge_port(&1, "eth0", []))
    end

    test "out-of-range and mistyped values", %{sock: s} do
      refused(s, ~r/mtu.*-1/, &Link.set_mtu(&1, "eth0", -1))
      refused(s, ~r/"1500"/, &Link.set_mtu(&1, "eth0", "1500"))
      refused(s, ~r/mtu.*-1/, &Link.create_dummy(&1, "d0", mtu: -1))
      refused(s, ~r/4294967296/, &Link.set_txqlen(&1, "eth0", 4_294_967_296))
      refused(s, ~r/vlan id.*4095/, &Link.create_vlan(&1, "v0", 2, 4095))
      refused(s, ~r/vlan id.* 0/, &Link.create_vlan(&1, "v0", 2, 0))
      refused(s, ~r/"5"/, &Link.create_vlan(&1, "v0", 2, "5"))

      refused(
        s,
        ~r/egress_qos value.* 8/,
        &Link.create_vlan(&1, "v0", 2, 5, egress_qos: %{1 => 8})
      )

      refused(s, ~r/"yes"/, &Link.create_vlan(&1, "v0", 2, 5, gvrp: "yes"))
      refused(s, ~r/16777216/, &Link.create_vxlan(&1, "vx0", 16_777_216))
      refused(s, ~r/256/, &Link.create_vxlan(&1, "vx0", 1, ttl: 256))
      refused(s, ~r/2\.\.1/, &Link.create_vxlan(&1, "vx0", 1, port_range: {2, 1}))

      refused(
        s,
        ~r/not both/,
        &Link.create_vxlan(&1, "vx0", 1, remote: "1.2.3.4", group: "ff05::1")
      )

      refused(s, ~r/"1.2.3"/, &Link.create_vxlan(&1, "vx0", 1, local: "1.2.3"))
      refused(s, ~r/70000/, &Link.create_bridge(&1, "br0", priority: 70_000))
      refused(s, ~r/"on"/, &Link.create_bridge(&1, "br0", stp: "on"))
      refused(s, ~r/-1/, &Link.create_tun(&1, "tun0", owner: -1))
      refused(s, ~r/4294967295/, &Link.create_tap(&1, "tap0", group: 4_294_967_295))
      refused(s, ~r/"yes"/, &Link.set_promisc(&1, "eth0", "yes"))
      refused(s, ~r/-1/, &Link.set_bridge_port(&1, "eth0", cost: -1))
      refused(s, ~r/:sleeping/, &Link.set_bridge_port(&1, "eth0", state: :sleeping))
      refused(s, ~r/xxxx/, &Link.set_alias(&1, "eth0", String.duplicate("x", 256)))
      refused(s, ~r/42/, &Link.set_alias(&1, "eth0", 42))
    end

    test "modes", %{sock: s} do
      refused(s, ~r/:bogus/, &Link.create_macvlan(&1, "mv0", 2, :bogus))
      refused(s, ~r/"bridge"/, &Link.create_macvlan(&1, "mv0", 2, "bridge"))
      refused(s, ~r/:l4/, &Link.create_macvtap(&1, "mv0", 2, :l4))
      refused(s, ~r/:l4/, &Link.create_ipvlan(&1, "iv0", 2, :l4))
      refused(s, ~r/:open/, &Link.create_ipvlan(&1, "iv0", 2, :l2, flag: :open))
      refused(s, ~r/:"802.1x"/, &Link.create_vlan(&1, "v0", 2, 5, protocol: :"802.1x"))
      refused(s, ~r/:maybe/, &Link.create_vxlan(&1, "vx0", 1, df: :maybe))
      refused(s, ~r/:slaac/, &Link.set_addrgenmode(&1, "eth0", :slaac))

      refused(
        s,
        ~r/needs mode :source/,
        &Link.create_macvlan(&1, "mv0", 2, :bridge, macaddrs: ["02:00:00:00:00:01"])
      )
    end

    test "MAC addresses", %{sock: s} do
      refused(s, ~r/"zz:00:00:00:00:01"/, &Link.set_address(&1, "eth0", "zz:00:00:00:00:01"))
      refused(s, ~r/123/, &Link.set_address(&1, "eth0", 123))
      refused(s, ~r/"02:00"/, &Link.create_veth(&1, "va", "vb", peer: [address: "02:00"]))
      refused(s, ~r/"nope"/, &Link.create_bridge(&1, "br0", group_address: "nope"))

      refused(
        s,
        ~r/"xx"/,
        &Link.create_macvlan(&1, "mv0", 2, :source, macaddrs: ["02:00:00:00:00:01", "xx"])
      )
    end

    test "alternative names", %{sock: s} do
      long = String.duplicate("a", 128)
      refused(s, ~r/#{long}/, &Link.add_altname(&1, "eth0", long))
      refused(s, ~r/"a\/b"/, &Link.add_altname(&1, "eth0", "a/b"))
      refused(s, ~r/""/, &Link.delete_altname(&1, "eth0", ""))
      refused(s, ~r/no alternative name/, &Link.add_altname(&1, "eth0", []))
    end

    test "netns targets", %{sock: s} do
      refused(s, ~r/ 0/, &Link.move_to_netns(&1, "eth0", 0))
      refused(s, ~r/\{:path, ""\}/, &Link.move_to_netns(&1, "eth0", {:path, ""}))
      refused(s, ~r/\{:fd, -1\}/, &Link.move_to_netns(&1, "eth0", {:fd, -1}))
      refused(s, ~r/"myns"/, &Link.move_to_netns(&1, "eth0", "myns"))
      refused(s, ~r/NUL/, &Link.move_to_netns(&1, "eth0", {:path, "/run/netns/a\0b"}))
      refused(s, ~r/:host/, &Link.create_veth(&1, "va", "vb", peer: [netns: :host]))
    end
  end
end
