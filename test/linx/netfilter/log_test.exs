defmodule Linx.Netfilter.LogTest do
  # NFLOG against the real kernel: two private namespaces joined by a veth pair, a
  # `log group N` rule pushed by Linx in one of them, pings across; the listener's
  # events are compared with what `ip -j` says about the interfaces and with the
  # addresses the pings used.
  use ExUnit.Case, async: true

  @moduletag :root
  @moduletag :iproute2
  @moduletag :nftables

  alias Linx.Netfilter
  alias Linx.Netfilter.{Error, Expr, Log, Ruleset}
  alias Linx.Netfilter.Log.Event
  alias Linx.Netlink.{Connection, Message, Nfnl, Request, Socket}
  alias Linx.Test.{Fuzz, Sandbox}

  doctest Linx.Netfilter.Log.Event

  @group 4242

  # ns a (10.77.0.1, fd77::1) <-veth-> ns b (10.77.0.2, fd77::2); b logs ICMP.
  defp pair! do
    a = Sandbox.netns!(tag: "loga")
    b = Sandbox.netns!(tag: "logb")
    Sandbox.ip!(a.name, ~w(link add va type veth peer name vb netns #{b.name}))
    Sandbox.ip!(a.name, ~w(addr add 10.77.0.1/24 dev va))
    Sandbox.ip!(b.name, ~w(addr add 10.77.0.2/24 dev vb))
    Sandbox.ip!(a.name, ~w(addr add fd77::1/64 dev va nodad))
    Sandbox.ip!(b.name, ~w(addr add fd77::2/64 dev vb nodad))
    Sandbox.ip!(a.name, ~w(link set va up))
    Sandbox.ip!(b.name, ~w(link set vb up))
    [%{"ifindex" => vb}] = Sandbox.ip_json!(b.name, ~w(link show vb))
    {:ok, sock} = Nfnl.open({:path, b.path})
    on_exit(fn -> Socket.close(sock) end)
    %{a: a, b: b, vb: vb, sock: sock}
  end

  defp log_rules(group) do
    icmp = Expr.match(:meta_l4proto, :icmp)
    icmp6 = Expr.match(:meta_l4proto, :icmpv6) ++ Expr.match(:icmpv6_type, :echo_request)

    Ruleset.new()
    |> Ruleset.add_table!(:inet, "logt")
    |> Ruleset.add_chain!("logt", "in", type: :filter, hook: :input, priority: 0)
    |> Ruleset.add_chain!("logt", "out", type: :filter, hook: :output, priority: 0)
    |> Ruleset.add_rule!("logt", "in", icmp ++ [Expr.log(group: group, prefix: "linx in: ")])
    |> Ruleset.add_rule!("logt", "in", icmp6 ++ [Expr.log(group: group, prefix: "linx in6: ")])
    |> Ruleset.add_rule!("logt", "out", icmp ++ [Expr.log(group: group, prefix: "linx out: ")])
  end

  defp ping!(ns, args),
    do: Sandbox.cmd!("ip", ["netns", "exec", ns.name, "ping", "-c", "1", "-W", "2" | args])

  defp next_log(timeout \\ 2_000) do
    receive do
      {:linx_netfilter, :log, %Event{} = ev} -> ev
    after
      timeout -> flunk("no NFLOG event within #{timeout} ms")
    end
  end

  defp refute_log(timeout \\ 200) do
    receive do
      {:linx_netfilter, :log, ev} -> flunk("unexpected #{inspect(ev)}")
    after
      timeout -> :ok
    end
  end

  test "pings across a veth arrive decoded: prefix, hook, interfaces, addresses, payload" do
    %{a: a, b: b, vb: vb, sock: sock} = pair!()
    :ok = Netfilter.push(sock, log_rules(@group))
    {:ok, log} = Netfilter.log_listen(self(), group: @group, netns: {:path, b.path})

    # a pings b: b logs the echo request on input and its reply on output.
    ping!(a, ["10.77.0.2"])
    request = next_log()
    reply = next_log()

    assert %Event{
             group: @group,
             family: :ipv4,
             prefix: "linx in: ",
             hook: :input,
             indev: ^vb,
             outdev: nil,
             hw_protocol: 0x0800,
             protocol: :icmp,
             icmp_type: 8,
             icmp_code: 0
           } = request

    assert Linx.IP.to_string(request.saddr) == "10.77.0.1"
    assert Linx.IP.to_string(request.daddr) == "10.77.0.2"
    # ping's default: 56 data bytes + 8 ICMP + 20 IP
    assert byte_size(request.payload) == 84
    assert <<0x45, _::binary>> = request.payload
    assert {sec, usec} = request.timestamp
    assert abs(sec - System.os_time(:second)) < 60 and usec in 0..999_999
    # The sender's MAC, as `ip -j` shows it in namespace a.
    [%{"address" => mac}] = Sandbox.ip_json!(a.name, ~w(link show va))
    assert Linx.MAC.to_string(%Linx.MAC{bytes: request.hwaddr}) == mac
    assert request.hwtype == 1

    assert %Event{prefix: "linx out: ", hook: :output, outdev: ^vb, indev: nil, icmp_type: 0} =
             reply

    assert Linx.IP.to_string(reply.saddr) == "10.77.0.2"

    # b pings a: the request leaves from ping's socket, so its uid/gid are logged.
    ping!(b, ["10.77.0.1"])
    out = next_log()

    assert %Event{prefix: "linx out: ", hook: :output, outdev: ^vb, icmp_type: 8, uid: 0, gid: 0} =
             out

    assert Linx.IP.to_string(out.daddr) == "10.77.0.1"
    # (the reply coming back is logged on input)
    assert %Event{prefix: "linx in: ", icmp_type: 0} = next_log()

    # IPv6: an echo request from a.
    ping!(a, ["-6", "fd77::2"])
    v6 = next_log()

    assert %Event{
             family: :ipv6,
             prefix: "linx in6: ",
             hook: :input,
             indev: ^vb,
             protocol: :icmpv6,
             icmp_type: 128
           } =
             v6

    assert Linx.IP.to_string(v6.saddr) == "fd77::1"
    assert <<6::4, _::bitstring>> = v6.payload

    assert inspect(request) =~
             ~s(#Linx.Netfilter.Log.Event<group=#{@group} "linx in: " input in=#{vb} icmp 10.77.0.1 > 10.77.0.2 84B>)

    :ok = Netfilter.unlog_listen(log)
    refute Process.alive?(log)
  end

  test "copy modes, flags, group isolation" do
    %{a: a, b: b, sock: sock} = pair!()
    :ok = Netfilter.push(sock, log_rules(@group))

    {:ok, meta} =
      Netfilter.log_listen(self(),
        group: @group,
        netns: {:path, b.path},
        copy_mode: :meta,
        flags: [:seq, :seq_global]
      )

    ping!(a, ["10.77.0.2"])
    ev = next_log()
    # Metadata only: no payload, hence no addresses.
    assert %Event{payload: <<>>, saddr: nil, protocol: nil, prefix: "linx in: ", seq: 0} = ev
    assert is_integer(ev.seq_global)
    assert %Event{seq: 1} = next_log()
    :ok = Netfilter.unlog_listen(meta)

    {:ok, snap} =
      Netfilter.log_listen(self(),
        group: @group,
        netns: {:path, b.path},
        copy_mode: {:packet, 28}
      )

    ping!(a, ["10.77.0.2"])
    ev = next_log()
    # 28 bytes: the IP header and the ICMP header, enough for the addresses.
    assert byte_size(ev.payload) == 28
    assert Linx.IP.to_string(ev.saddr) == "10.77.0.1" and ev.icmp_type == 8
    _reply = next_log()

    # Another group hears nothing.
    {:ok, other} = Netfilter.log_listen(self(), group: @group + 1, netns: {:path, b.path})
    :ok = Netfilter.unlog_listen(snap)
    ping!(a, ["10.77.0.2"])
    refute_log()
    :ok = Netfilter.unlog_listen(other)
  end

  test "one listener per group; unbound on stop and when the owner exits" do
    %{b: b} = pair!()
    path = {:path, b.path}
    {:ok, first} = Netfilter.log_listen(group: @group, netns: path)

    assert {:error, %Error{operation: :log_listen, errno: :eperm, object: {:group, @group}} = e} =
             Netfilter.log_listen(self(), group: @group, netns: path)

    assert Exception.message(e) =~ "bound by another socket"
    assert proc_groups(b) == [@group]

    # Stopping unbinds: the group can be bound again at once.
    :ok = Netfilter.unlog_listen(first)
    assert proc_groups(b) == []
    owner = spawn(fn -> Process.sleep(:infinity) end)
    {:ok, second} = Netfilter.log_listen(owner, group: @group, netns: path)
    %{sock: sock} = :sys.get_state(second)
    {:ok, fd} = Socket.fd(sock)
    {:ok, link} = File.read_link("/proc/self/fd/#{fd}")
    ref = Process.monitor(second)
    Process.exit(owner, :kill)
    assert_receive {:DOWN, ^ref, :process, ^second, :normal}
    assert proc_groups(b) == []
    # (the number may already be reused by a concurrent test; the socket is gone)
    refute File.read_link("/proc/self/fd/#{fd}") == {:ok, link}

    # The default-logger binding of the families follows the listener.
    {:ok, third} = Netfilter.log_listen(self(), group: @group, netns: path, families: [:ipv4])
    assert nf_log(b, 2) == "nfnetlink_log"
    :ok = Netfilter.unlog_listen(third)
    assert nf_log(b, 2) == "NONE"
    {:ok, fourth} = Netfilter.log_listen(self(), group: @group, netns: path, families: [])
    assert nf_log(b, 2) == "NONE"
    :ok = Log.stop(fourth)
    assert :ok = Log.stop(fourth)
  end

  defp proc_groups(ns) do
    Sandbox.cmd!("ip", ["netns", "exec", ns.name, "cat", "/proc/net/netfilter/nfnetlink_log"])
    |> String.split("\n", trim: true)
    |> Enum.map(&(&1 |> String.split() |> hd() |> String.to_integer()))
  end

  defp nf_log(ns, pf),
    do:
      String.trim(
        Sandbox.cmd!("ip", [
          "netns",
          "exec",
          ns.name,
          "cat",
          "/proc/sys/net/netfilter/nf_log/#{pf}"
        ])
      )

  test "a missing namespace is an error; child_spec" do
    assert {:error, %Error{operation: :log_listen, errno: :enoent}} =
             Netfilter.log_listen(self(),
               group: 1,
               netns: {:path, "/run/netns/linx-test-no-such-ns"}
             )

    assert %{start: {Log, :start_link, [[owner: _, group: 3]]}} =
             Log.child_spec(owner: self(), group: 3)
  end

  test "bad options raise ArgumentError naming the value" do
    bad = [
      [group: 70_000],
      [group: -1],
      [group: "5"],
      [group: 1, copy_mode: :all],
      [group: 1, copy_mode: {:packet, 0}],
      [group: 1, qthresh: 0],
      [group: 1, qthresh: 2000],
      [group: 1, timeout_ms: -5],
      [group: 1, flags: [:uid]],
      [group: 1, families: [:inet]],
      [group: 1, rcvbuf: 0],
      [group: 1, netns: :nope],
      [group: 1, colour: :blue]
    ]

    for opts <- bad do
      e = assert_raise ArgumentError, fn -> Netfilter.log_listen(self(), opts) end
      {k, v} = List.last(opts)

      named =
        case {k, v} do
          {:colour, _} -> ":colour"
          {_, [x]} -> inspect(x)
          _ -> inspect(v)
        end

      assert e.message =~ named, "#{inspect(opts)}: #{e.message}"
    end

    assert_raise ArgumentError, ~r/:group/, fn -> Netfilter.log_listen(self(), []) end
    assert_raise ArgumentError, ~r/:owner/, fn -> Log.start_link(group: 1) end
    assert_raise ArgumentError, ~r/"x"/, fn -> Netfilter.log_listen("x", group: 1) end
  end

  describe "decoding" do
    test "malformed bodies and datagrams never raise" do
      for bin <- [<<>>, <<2>>, <<2, 0, 0, 1, 9, 0, 1, 0>>, :binary.copy(<<0xFF>>, 40)] do
        assert {:error, _} = Event.decode(bin)
      end

      # Attributes of the wrong size are skipped; a garbage payload leaves the
      # addresses unset.
      body =
        <<2, 0, 0, 9>> <>
          Linx.Netlink.Attr.encode([{2, <<1, 2>>}, {9, <<0x45, 1, 2>>}, {10, <<0xFF, 0xFE, 0>>}])

      assert {:ok, %Event{mark: nil, saddr: nil, prefix: nil, payload: <<0x45, 1, 2>>, group: 9}} =
               Event.decode(body)

      packet = Message.encode(%Message{type: 0x0400, payload: <<2, 0>>})
      done = Message.encode(%Message{type: 3, payload: <<0::32>>})
      assert {[], :malformed} = Log.datagram_events(packet <> done)
      assert {[], :ok} = Log.datagram_events(done)
      assert {[], :malformed} = Log.datagram_events(<<99::native-32, 0::96>>)
    end

    test "IPv6 extension headers and fragments" do
      src = <<0xFD77::16, 0::96, 1::16>>
      dst = <<0xFD77::16, 0::96, 2::16>>
      hbh = <<17, 0, 0::48>>
      udp = <<5353::16, 53::16, 8::16, 0::16>>

      v6 = fn next, rest ->
        <<6::4, 0::28, byte_size(rest)::16, next, 64, src::binary, dst::binary, rest::binary>>
      end

      body = fn payload -> <<10, 0, 0, 1>> <> Linx.Netlink.Attr.encode([{9, payload}]) end

      assert {:ok, %Event{protocol: :udp, sport: 5353, dport: 53}} =
               Event.decode(body.(v6.(0, hbh <> udp)))

      # A non-first fragment has no ports.
      frag = <<17, 0, 100::13, 0::3, 7::32>>
      assert {:ok, %Event{protocol: :udp, sport: nil}} = Event.decode(body.(v6.(44, frag <> udp)))
      first = <<17, 0, 0::13, 1::3, 7::32>>
      assert {:ok, %Event{sport: 5353}} = Event.decode(body.(v6.(44, first <> udp)))
    end

    @tag timeout: 300_000
    test "100,000 mutated NFLOG datagrams captured from the kernel" do
      %{a: a, b: b, sock: sock} = pair!()
      :ok = Netfilter.push(sock, log_rules(@group))

      # A raw socket bound to the group (the listener's own bind message), to capture
      # the kernel's datagrams as they are.
      {:ok, raw} = Nfnl.open({:path, b.path})

      conf = %{
        group: @group,
        copy_mode: :packet,
        flags: [:seq, :seq_global],
        qthresh: 1,
        timeout_ms: nil
      }

      {:ok, []} = Request.talk(raw, 0x0401, 0x4, Log.bind_payload(conf))
      ping!(a, ["10.77.0.2"])
      ping!(b, ["10.77.0.1"])
      ping!(a, ["-6", "fd77::2"])
      Process.sleep(100)
      seeds = capture(raw, [])
      :ok = Socket.close(raw)
      assert length(seeds) >= 5
      assert Enum.all?(seeds, &match?({[_ | _], :ok}, Log.datagram_events(&1)))

      rand_seed = :erlang.phash2({:nflog_fuzz, :os.system_time(:millisecond)})

      decoded =
        seeds
        |> Fuzz.inputs(100_000, rand_seed)
        |> Enum.reduce(0, fn {strategy, input}, n ->
          try do
            {events, status} = Log.datagram_events(input)
            true = status in [:ok, :malformed]
            true = Enum.all?(events, &is_struct(&1, Event))
            _ = Enum.map(events, &inspect/1)
            n + length(events)
          rescue
            e ->
              flunk(
                "#{inspect(e)} on a #{strategy} input (rand seed #{rand_seed}): #{inspect(input, limit: :infinity)}"
              )
          end
        end)

      assert decoded > 0
    end
  end

  defp capture(sock, acc) do
    case Connection.read_datagram(sock.socket, 65_536) do
      {:ok, %{data: data}} -> capture(sock, [data | acc])
      _ -> Enum.reverse(acc)
    end
  end
end
