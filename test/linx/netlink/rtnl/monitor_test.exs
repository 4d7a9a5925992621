defmodule Linx.Netlink.Rtnl.MonitorTest do
  use ExUnit.Case, async: true

  alias Linx.Netlink.{Attr, Error, Message, Rtnl, Socket}
  alias Linx.Netlink.Rtnl.{Link, Monitor}
  alias Linx.Netlink.Rtnl.Monitor.Event
  alias Linx.Test.Sandbox

  doctest Monitor

  # A link notification as the kernel frames it: ifinfomsg + IFLA_IFNAME + IFLA_MTU.
  defp link_payload(name, index, mtu) do
    <<0, 0, 1::native-16, index::native-signed-32, 0x1043::native-32, 0::32>> <>
      Attr.encode([{3, name <> <<0>>}, {4, <<mtu::native-32>>}])
  end

  defp link_msg(type, name, index, mtu \\ 1500),
    do: %Message{type: type, payload: link_payload(name, index, mtu)}

  defp available?(mod),
    do: Code.ensure_loaded?(mod) and function_exported?(mod, :decode_message, 1)

  describe "decoding events" do
    test "link messages decode into the %Link{} the read verbs return, with their op" do
      assert %Event{op: :new_link, resource: %Link{name: "v0", index: 7, mtu: 1400}} =
               Monitor.decode_event(link_msg(16, "v0", 7, 1400))

      assert %Event{op: :del_link, resource: %Link{name: "v0", index: 7}} =
               Monitor.decode_event(link_msg(17, "v0", 7))

      # The same struct the read path produces from the same message.
      msg = link_msg(16, "v9", 9)
      assert Monitor.decode_event(msg).resource == Link.decode_message(msg)
    end

    test "every rtnetlink object type has its op; its resource comes from its module" do
      table = [
        {20, :new_addr, Rtnl.Address},
        {21, :del_addr, Rtnl.Address},
        {24, :new_route, Rtnl.Route},
        {25, :del_route, Rtnl.Route},
        {28, :new_neigh, Rtnl.Neighbour},
        {29, :del_neigh, Rtnl.Neighbour},
        {32, :new_rule, Rtnl.Rule},
        {33, :del_rule, Rtnl.Rule},
        {104, :new_nexthop, Rtnl.Nexthop},
        {105, :del_nexthop, Rtnl.Nexthop}
      ]

      for {type, op, mod} <- table do
        msg = %Message{type: type, payload: <<0::256>>}
        event = Monitor.decode_event(msg)
        assert event.op == op

        if available?(mod) do
          assert event.resource == mod.decode_message(msg)
          assert is_struct(event.resource, mod)
        else
          assert event.resource == nil
        end
      end
    end

    test "an unknown type is {:unknown, type} with no resource" do
      assert %Event{op: {:unknown, 99}, resource: nil} =
               Monitor.decode_event(%Message{type: 99, payload: <<1, 2, 3>>})

      # RTM_NEWNETCONF: real, but not an object the monitor decodes
      assert %Event{op: {:unknown, 80}, resource: nil} =
               Monitor.decode_event(%Message{type: 80, payload: <<>>})
    end

    test "random payloads of every type never raise" do
      :rand.seed(:exsss, {ExUnit.configuration()[:seed], 2, 3})

      for _ <- 1..3_000 do
        type = Enum.random([16, 17, 20, 21, 24, 25, 28, 29, 32, 33, 104, 105, 1, 2, 3, 77])
        payload = :crypto.strong_rand_bytes(:rand.uniform(80) - 1)
        assert %Event{} = Monitor.decode_event(%Message{type: type, payload: payload})
      end
    end

    test "a datagram gives one event per message; NOOP is skipped; a bad tail is flagged" do
      a = Message.encode(link_msg(16, "a", 2))
      b = Message.encode(link_msg(17, "b", 3))
      noop = Message.encode(%Message{type: 1})

      assert {[
                %Event{op: :new_link, resource: %Link{name: "a"}},
                %Event{op: :del_link, resource: %Link{name: "b"}}
              ], :ok} = Monitor.datagram_events(a <> noop <> b)

      # A length field pointing past the datagram: the complete messages before it still
      # count, and the caller learns that something was unreadable.
      bad = <<500::native-32, 16::native-16, 0::16, 0::64, 1, 2, 3, 4>>

      assert {[%Event{op: :new_link, resource: %Link{name: "a"}}], :malformed} =
               Monitor.datagram_events(a <> bad)

      assert {[], :malformed} = Monitor.datagram_events(<<3::native-32, 0::96>>)
      assert {[], :ok} = Monitor.datagram_events(<<>>)
    end

    test "inspect shows the op and the resource (0.2's form)" do
      link = %Link{name: "v0", index: 3, mtu: 1500}

      assert inspect(%Event{op: :new_link, resource: link}) ==
               ~s[#Linx.Netlink.Rtnl.Monitor.Event<new_link #Linx.Netlink.Rtnl.Link<"v0" (3) MTU=1500>>]

      assert inspect(%Event{op: {:unknown, 99}, resource: nil}) ==
               "#Linx.Netlink.Rtnl.Monitor.Event<unknown:99>"

      assert inspect(%Event{op: :new_addr, resource: nil}) ==
               "#Linx.Netlink.Rtnl.Monitor.Event<new_addr>"
    end
  end

  describe "options" do
    test "groups by name, including nexthop (32)" do
      groups = Monitor.groups()
      assert groups[:link] == 1
      assert groups[:ipv4_route] == 7
      assert groups[:ipv6_rule] == 19
      assert groups[:nexthop] == 32
      # 0.2's defaults, by name
      assert Enum.map(
               ~w(link neigh ipv4_ifaddr ipv4_route ipv4_rule ipv6_ifaddr
                         ipv6_route ipv6_rule)a,
               &groups[&1]
             ) == [1, 3, 5, 7, 8, 9, 11, 19]
    end

    test "programmer errors raise ArgumentError naming the bad value, before any socket" do
      assert_raise ArgumentError, ~r/:owner/, fn -> Monitor.start_link([]) end
      assert_raise ArgumentError, ~r/:bogus/, fn -> Monitor.subscribe(bogus: 1) end
      assert_raise ArgumentError, ~r/:linkz/, fn -> Monitor.subscribe(groups: [:linkz]) end
      assert_raise ArgumentError, ~r/-1/, fn -> Monitor.subscribe(groups: [-1]) end
      assert_raise ArgumentError, ~r/:groups, \[\]/, fn -> Monitor.subscribe(groups: []) end
      assert_raise ArgumentError, ~r/:rcvbuf, 0/, fn -> Monitor.subscribe(rcvbuf: 0) end
      assert_raise ArgumentError, ~r/:nope/, fn -> Monitor.subscribe(netns: :nope) end
      assert_raise ArgumentError, ~r/"x"/, fn -> Monitor.start_link(owner: "x") end
      assert_raise ArgumentError, ~r/keyword/, fn -> Monitor.start_link(%{}) end
    end

    test "child_spec starts it under a supervisor" do
      spec = Monitor.child_spec(owner: self(), groups: [:link])
      assert %{id: Monitor, start: {Monitor, :start_link, [[owner: _, groups: [:link]]]}} = spec
    end
  end

  # --- live ------------------------------------------------------------------------------

  # The user netlink sockets (protocol 0) that exist in a netns, from its /proc/net/netlink.
  defp route_sockets(ns) do
    Sandbox.cmd!("ip", ["netns", "exec", ns.name, "cat", "/proc/net/netlink"])
    |> String.split("\n", trim: true)
    |> tl()
    |> Enum.map(&String.split/1)
    |> Enum.filter(fn [_sk, eth, pid | _] -> eth == "0" and pid != "0" end)
    |> Enum.map(&List.last/1)
  end

  defp socket_inode(mon) do
    %{sock: sock} = :sys.get_state(mon)
    {:ok, fd} = Socket.fd(sock)
    {:ok, target} = File.read_link("/proc/self/fd/#{fd}")
    {fd, target}
  end

  defp link_events(timeout) do
    receive do
      {:linx_rtnl, :event, %Event{} = e} -> [e | link_events(timeout)]
      {:linx_rtnl, :resync_needed} -> [:resync | link_events(timeout)]
    after
      timeout -> []
    end
  end

  # Waits for an event matching `fun`, returning it (other events are dropped).
  defp await_event(fun, timeout \\ 5_000) do
    receive do
      {:linx_rtnl, :event, %Event{} = e} -> if fun.(e), do: e, else: await_event(fun, timeout)
    after
      timeout -> flunk("no matching event within #{timeout} ms")
    end
  end

  defp batch!(ns, lines) do
    path = Path.join(System.tmp_dir!(), "#{ns.name}-#{System.unique_integer([:positive])}.batch")
    File.write!(path, lines)

    try do
      Sandbox.cmd!("ip", ["-n", ns.name, "-batch", path])
    after
      File.rm(path)
    end
  end

  describe "live, in a private netns" do
    @describetag :root
    @describetag :iproute2

    test "link create, change and delete arrive decoded as %Link{} with the right ops" do
      ns = Sandbox.netns!()
      {:ok, mon} = Monitor.subscribe(netns: {:path, ns.path}, groups: [:link])

      # The default 16 MiB buffer is forced past net.core.rmem_max (the kernel reports
      # twice the request).
      rmem_max = File.read!("/proc/sys/net/core/rmem_max") |> String.trim() |> String.to_integer()
      assert {:ok, granted} = Socket.rcvbuf(:sys.get_state(mon).sock)
      assert granted >= 16 * 1024 * 1024 and granted > rmem_max

      Sandbox.ip!(ns.name, ~w(link add v0 type veth peer name v1))
      [%{"ifindex" => v0_index}] = Sandbox.ip_json!(ns.name, ~w(link show v0))
      [%{"ifindex" => v1_index}] = Sandbox.ip_json!(ns.name, ~w(link show v1))

      created =
        for _ <- 1..2, do: await_event(&match?(%Event{op: :new_link}, &1))

      assert [%Link{name: "v0", index: ^v0_index}, %Link{name: "v1", index: ^v1_index}] =
               created |> Enum.map(& &1.resource) |> Enum.sort_by(& &1.name)

      assert Enum.all?(created, &(Link.kind(&1.resource) == "veth"))

      Sandbox.ip!(ns.name, ~w(link set v0 mtu 1400))

      assert %Event{resource: %Link{index: ^v0_index, mtu: 1400}} =
               await_event(&match?(%Event{op: :new_link, resource: %Link{mtu: 1400}}, &1))

      Sandbox.ip!(ns.name, ~w(link set v0 up))
      up = await_event(&match?(%Event{op: :new_link, resource: %Link{name: "v0"}}, &1))
      assert Link.up?(up.resource)

      Sandbox.ip!(ns.name, ~w(link del v0))

      deleted =
        for _ <- 1..2,
            do: await_event(&match?(%Event{op: :del_link}, &1)).resource

      assert Enum.sort(Enum.map(deleted, & &1.name)) == ["v0", "v1"]
      assert Enum.sort(Enum.map(deleted, & &1.index)) == Enum.sort([v0_index, v1_index])

      assert inspect(hd(created)) =~
               "#Linx.Netlink.Rtnl.Monitor.Event<new_link #Linx.Netlink.Rtnl.Link<"

      :ok = Monitor.unsubscribe(mon)
    end

    test "default groups: addresses and routes arrive with their ops; nexthop is group 32" do
      ns = Sandbox.netns!()
      Sandbox.ip!(ns.name, ~w(link add v0 type veth peer name v1))
      Sandbox.ip!(ns.name, ~w(link set v0 up))
      Sandbox.ip!(ns.name, ~w(link set v1 up))

      {:ok, mon} = Monitor.subscribe(netns: {:path, ns.path})
      {:ok, nh} = Monitor.subscribe(netns: {:path, ns.path}, groups: [:nexthop])

      Sandbox.ip!(ns.name, ~w(addr add 10.77.0.1/24 dev v0))
      addr = await_event(&(&1.op == :new_addr))
      route = await_event(&(&1.op == :new_route))

      for {event, mod} <- [{addr, Rtnl.Address}, {route, Rtnl.Route}] do
        if available?(mod),
          do: assert(is_struct(event.resource, mod)),
          else: assert(event.resource == nil)
      end

      Sandbox.ip!(ns.name, ~w(addr del 10.77.0.1/24 dev v0))
      assert %Event{op: :del_addr} = await_event(&(&1.op == :del_addr))

      Sandbox.ip!(ns.name, ~w(nexthop add id 7 dev v0))
      nexthop = await_event(&(&1.op == :new_nexthop))
      if available?(Rtnl.Nexthop), do: assert(is_struct(nexthop.resource, Rtnl.Nexthop))
      Sandbox.ip!(ns.name, ~w(nexthop del id 7))
      assert %Event{op: :del_nexthop} = await_event(&(&1.op == :del_nexthop))

      :ok = Monitor.stop(mon)
      :ok = Monitor.stop(nh)
    end

    test "the owner's death stops the monitor and closes its socket" do
      ns = Sandbox.netns!()
      test = self()

      owner =
        spawn(fn ->
          receive do
            :exit -> :ok
          end
        end)

      {:ok, mon} = Monitor.subscribe(owner, netns: {:path, ns.path}, groups: [:link])
      ref = Process.monitor(mon)
      {fd, target} = socket_inode(mon)
      assert target =~ "socket:"
      assert [_] = route_sockets(ns)

      send(owner, :exit)
      assert_receive {:DOWN, ^ref, :process, ^mon, :normal}, 2_000

      # The fd is closed (its number may since have been reused by another socket).
      assert File.read_link("/proc/self/fd/#{fd}") != {:ok, target}
      assert route_sockets(ns) == []
      # The caller it was linked to is unharmed, and stop/1 is idempotent.
      assert Process.alive?(test)
      assert :ok = Monitor.stop(mon)
    end

    test "stop/1 closes the socket" do
      ns = Sandbox.netns!()
      {:ok, mon} = Monitor.subscribe(netns: {:path, ns.path}, groups: [:link, :ipv4_route])
      {fd, target} = socket_inode(mon)
      :ok = Monitor.stop(mon)
      refute Process.alive?(mon)
      assert File.read_link("/proc/self/fd/#{fd}") != {:ok, target}
      assert route_sockets(ns) == []
    end

    test "a failed start returns %Error{} without killing the caller or leaking the socket" do
      ns = Sandbox.netns!()

      # Group 4096 is far past RTNLGRP_MAX: the kernel refuses the membership (EINVAL)
      # after the socket was opened and the first group joined.
      assert {:error, %Error{errno: :einval, operation: :add_membership, object: {:group, 4096}}} =
               Monitor.subscribe(netns: {:path, ns.path}, groups: [:link, 4096])

      assert route_sockets(ns) == []

      assert {:error, %Error{errno: :enoent}} =
               Monitor.subscribe(netns: {:path, "/run/netns/linx-test-no-such-netns"})
    end

    test "datagrams from anything but the kernel are ignored" do
      ns = Sandbox.netns!()
      {:ok, mon} = Monitor.subscribe(netns: {:path, ns.path}, groups: [:link])
      {:ok, port} = Socket.port_id(:sys.get_state(mon).sock)

      # Root may unicast to any rtnetlink port: forge a link event and send garbage.
      {:ok, forger} = Rtnl.open({:path, ns.path})
      dest = %{family: 16, addr: <<0::16, port::native-32, 0::32>>}
      forged = Message.encode(link_msg(16, "forged0", 42))
      assert :ok = :socket.sendto(forger.socket, forged, dest)
      assert :ok = :socket.sendto(forger.socket, <<1, 2, 3>>, dest)
      Socket.close(forger)

      Sandbox.ip!(ns.name, ~w(link add v0 type veth peer name v1))

      # The forgeries were queued first, so they would have been delivered first.
      events = link_events(300)
      names = for %Event{resource: %Link{name: name}} <- events, do: name
      assert "v0" in names and "v1" in names
      refute "forged0" in names
      refute :resync in events
      assert Process.alive?(mon)
      :ok = Monitor.stop(mon)
    end

    test "a burst of 10,000 changes: every event arrives, or :resync_needed says some did not" do
      ns = Sandbox.netns!()
      Sandbox.ip!(ns.name, ~w(link add v0 type veth peer name v1))
      # An alias change is notified (one RTM_NEWLINK) only while the link is up.
      Sandbox.ip!(ns.name, ~w(link set v0 up))
      {:ok, mon} = Monitor.subscribe(netns: {:path, ns.path}, groups: [:link])

      batch!(ns, Enum.map_join(1..10_000, "", &"link set v0 alias a#{&1}\n"))
      [%{"ifalias" => "a10000"}] = Sandbox.ip_json!(ns.name, ~w(link show v0))

      received = collect_until_alias("a10000", [])
      resync? = :resync in received
      aliases = for %Event{op: :new_link, resource: %Link{ifalias: a}} <- received, do: a

      if resync? do
        # Some events were dropped, and the owner was told so; the ones that arrived
        # are in order.
        assert aliases == Enum.sort_by(aliases, fn "a" <> n -> String.to_integer(n) end)
      else
        assert aliases == Enum.map(1..10_000, &"a#{&1}")
      end

      :ok = Monitor.stop(mon)
    end

    test "a real overrun (tiny buffer, suspended monitor) gives :resync_needed, then events again" do
      ns = Sandbox.netns!()
      Sandbox.ip!(ns.name, ~w(link add v0 type veth peer name v1))
      Sandbox.ip!(ns.name, ~w(link set v0 up))

      {:ok, mon} = Monitor.subscribe(netns: {:path, ns.path}, groups: [:link], rcvbuf: 4096)
      :ok = :sys.suspend(mon)
      batch!(ns, Enum.map_join(1..300, "", &"link set v0 alias b#{&1}\n"))
      :ok = :sys.resume(mon)

      assert_receive {:linx_rtnl, :resync_needed}, 5_000
      received = link_events(300)
      # Only what fit in the buffer survived.
      assert length(received) < 300

      Sandbox.ip!(ns.name, ~w(link set v0 alias after-overrun))

      assert %Event{resource: %Link{name: "v0"}} =
               await_event(&match?(%Event{resource: %Link{ifalias: "after-overrun"}}, &1))

      assert Process.alive?(mon)
      :ok = Monitor.stop(mon)
    end
  end

  defp collect_until_alias(last, acc) do
    receive do
      {:linx_rtnl, :resync_needed} ->
        collect_until_alias(last, [:resync | acc])

      {:linx_rtnl, :event, %Event{resource: %Link{ifalias: ^last}} = e} ->
        Enum.reverse([e | acc])

      {:linx_rtnl, :event, e} ->
        collect_until_alias(last, [e | acc])
    after
      # After an overrun the last event itself may be among the dropped ones.
      10_000 ->
        if :resync in acc, do: Enum.reverse(acc), else: flunk("events stopped arriving")
    end
  end
end
