defmodule Linx.Netlink.ConnectionTest do
  use ExUnit.Case, async: true

  import Bitwise
  import Linx.Netlink.Constants

  alias Linx.Netlink.{Attr, Connection, Error, Message, Request, Rtnl, Socket}
  alias Linx.Netlink.Rtnl.{Link, LinkInfo}
  alias Linx.Test.Sandbox

  @moduletag :root
  @moduletag :iproute2

  @rtm_newlink 16
  @rtm_getlink 18

  # The link requests, built on Request directly so that they run over either transport
  # (a %Socket{} or a %Connection{}) exactly as the Link verbs send them.

  defp list_links(transport, opts \\ []) do
    case Request.fold(
           transport,
           @rtm_getlink,
           nlm_f_dump(),
           Link.encode(%Link{}),
           [],
           &[Link.decode_message(&1) | &2],
           [operation: :list_links] ++ opts
         ) do
      {:ok, links} -> {:ok, Enum.reverse(links)}
      error -> error
    end
  end

  defp get_link(transport, name) do
    case Request.talk(transport, @rtm_getlink, 0, Link.encode(%Link{name: name}),
           operation: :get_link,
           object: name
         ) do
      {:ok, [msg]} -> {:ok, Link.decode_message(msg)}
      other -> other
    end
  end

  defp create_veth(transport, name, peer) do
    link = %Link{
      name: name,
      linkinfo: %LinkInfo{kind: "veth", info_data: %LinkInfo.Veth{peer: %Link{name: peer}}}
    }

    flags = nlm_f_create() ||| nlm_f_excl() ||| nlm_f_ack()
    ack(Request.talk(transport, @rtm_newlink, flags, Link.encode(link), object: name))
  end

  defp set_link(transport, name, %Link{} = changes) do
    ack(
      Request.talk(transport, @rtm_newlink, nlm_f_ack(), Link.encode(%{changes | name: name}),
        object: name
      )
    )
  end

  defp ack({:ok, []}), do: :ok
  defp ack(other), do: other

  defp batch!(ns, lines) do
    path = Path.join(System.tmp_dir!(), "#{ns.name}-#{System.unique_integer([:positive])}.batch")
    File.write!(path, lines)

    try do
      Sandbox.cmd!("ip", ["-n", ns.name, "-batch", path])
    after
      File.rm(path)
    end
  end

  defp many_links!(ns, pairs),
    do: batch!(ns, Enum.map_join(1..pairs, "", &"link add m#{&1}a type veth peer name m#{&1}b\n"))

  # The user rtnetlink sockets in a netns, from its /proc/net/netlink.
  defp route_sockets(ns) do
    Sandbox.cmd!("ip", ["netns", "exec", ns.name, "cat", "/proc/net/netlink"])
    |> String.split("\n", trim: true)
    |> tl()
    |> Enum.map(&String.split/1)
    |> Enum.filter(fn [_sk, eth, pid | _] -> eth == "0" and pid != "0" end)
  end

  defp state(conn), do: :sys.get_state(conn.pid)

  # Waits until the connection holds no request (drains run asynchronously).
  defp await_idle(conn, tries \\ 100) do
    st = state(conn)

    cond do
      st.entries == %{} and st.dump == nil -> :ok
      tries == 0 -> flunk("connection still busy: #{inspect(Map.take(st, [:entries, :dump]))}")
      true -> Process.sleep(20) && await_idle(conn, tries - 1)
    end
  end

  defp mailbox, do: Process.info(self(), :messages) |> elem(1)

  describe "open/close" do
    test "open returns the value callers hold; close releases the fd and the socket" do
      ns = Sandbox.netns!()
      {:ok, conn} = Connection.open(0, {:path, ns.path})
      assert %Connection{netns: {:path, _}, protocol: 0, pid: pid} = conn
      assert is_pid(pid)

      assert inspect(conn) ==
               "#Linx.Netlink.Connection<#{inspect(pid)} protocol=0 netns=#{inspect({:path, ns.path})}>"

      {:ok, fd} = Socket.fd(state(conn).sock)
      {:ok, target} = File.read_link("/proc/self/fd/#{fd}")
      assert target =~ "socket:"
      assert [_] = route_sockets(ns)

      assert {:ok, [%Link{name: "lo"}]} = list_links(conn)
      assert :ok = Connection.close(conn)
      refute Process.alive?(pid)
      assert File.read_link("/proc/self/fd/#{fd}") != {:ok, target}
      assert route_sockets(ns) == []
      # closing again is fine; using a closed connection is an error, not a hang
      assert :ok = Connection.close(conn)

      assert {:error, %Error{errno: :ebadf, message: "netlink connection closed"}} =
               list_links(conn)
    end

    test "bad options raise ArgumentError; a failed open is an %Error{} and spares the caller" do
      assert_raise ArgumentError, ~r/:protocol, 32/, fn -> Connection.open(32) end
      assert_raise ArgumentError, ~r/:nope/, fn -> Connection.open(0, :nope) end
      assert_raise ArgumentError, ~r/:bogus/, fn -> Connection.start_link(bogus: 1) end
      assert_raise ArgumentError, ~r/:rcvbuf, -1/, fn -> Connection.start_link(rcvbuf: -1) end

      assert {:error, %Error{errno: :enoent, operation: :open}} =
               Connection.open(0, {:path, "/run/netns/linx-test-no-such-netns"})

      # (the test process is linked to the failed connection and still runs)
      assert Process.alive?(self())
    end

    test "under a supervisor, by name; lookup/1 gives the %Connection{}" do
      ns = Sandbox.netns!()
      name = :"linx_conn_test_#{System.unique_integer([:positive])}"
      pid = start_supervised!({Connection, name: name, netns: {:path, ns.path}})

      assert {:ok, %Connection{pid: ^pid, netns: {:path, _}, protocol: 0} = conn} =
               Connection.lookup(name)

      assert {:ok, [%Link{name: "lo"}]} = list_links(conn)
      assert %{id: ^name} = Connection.child_spec(name: name)

      assert {:error, %Error{errno: :ebadf, operation: :lookup}} =
               Connection.lookup(:linx_no_such_connection)
    end
  end

  describe "many callers on one connection" do
    test "100 concurrent tasks mixing dumps and changes each get their own replies" do
      ns = Sandbox.netns!()
      {:ok, conn} = Connection.open(0, {:path, ns.path})

      tasks =
        for i <- 1..100 do
          Task.async(fn ->
            if rem(i, 4) == 0 do
              # dumps: each is complete and consistent (the kernel would answer a second
              # concurrent dump on one socket with EBUSY; the connection queues them)
              for _ <- 1..3 do
                {:ok, links} = list_links(conn)
                names = Enum.map(links, & &1.name)
                assert "lo" in names
                assert names == Enum.uniq(names)
                {:dump, length(links)}
              end
            else
              a = "a#{i}"
              :ok = create_veth(conn, a, "b#{i}")
              {:ok, %Link{name: ^a, index: index} = link} = get_link(conn, a)
              assert Link.kind(link) == "veth"
              :ok = set_link(conn, a, %Link{flags: 1, change: 1})
              :ok = set_link(conn, a, %Link{ifalias: "task-#{i}"})
              {:ok, %Link{index: ^index, ifalias: ifalias} = link} = get_link(conn, a)
              assert ifalias == "task-#{i}"
              assert Link.up?(link)
              {:ok, links} = list_links(conn)
              assert Enum.any?(links, &(&1.index == index and &1.name == a))
              {:link, i, index}
            end
          end)
        end

      results = Task.await_many(tasks, 120_000)
      created = for {:link, i, index} <- results, do: {i, index}
      assert length(created) == 75
      assert length(for(r <- results, is_list(r), x <- r, do: x)) == 75

      # Oracle: what `ip` sees matches what each task was told.
      shown = Map.new(Sandbox.ip_json!(ns.name, ~w(link show)), &{&1["ifname"], &1})

      for {i, index} <- created do
        assert %{"ifindex" => ^index, "ifalias" => ifalias, "flags" => flags} = shown["a#{i}"]
        assert ifalias == "task-#{i}"
        assert "UP" in flags
        assert Map.has_key?(shown, "b#{i}")
      end

      await_idle(conn)
      assert mailbox() == []
      Connection.close(conn)
    end

    test "the kernel refuses a second dump on one socket (EBUSY); the connection queues them" do
      ns = Sandbox.netns!()
      many_links!(ns, 150)
      {:ok, sock} = Rtnl.open({:path, ns.path})

      # Two dump requests back to back on one socket: the first is far from done.
      for seq <- [1, 2] do
        msg = %Message{type: @rtm_getlink, flags: 0x301, seq: seq, payload: <<0::128>>}
        :ok = :socket.send(sock.socket, Message.encode(msg))
      end

      assert {:error, %Error{errno: :ebusy}} =
               Request.consume(
                 read_until_seq(sock, 2),
                 %{seq: 2, acc: [], interrupted: false, wants_ack: false},
                 fn m, acc -> [m | acc] end,
                 %{operation: :test, object: nil}
               )

      Socket.close(sock)

      {:ok, conn} = Connection.open(0, {:path, ns.path})

      results =
        1..20
        |> Enum.map(fn _ -> Task.async(fn -> list_links(conn) end) end)
        |> Task.await_many(60_000)

      for result <- results do
        assert {:ok, links} = result
        assert length(links) == 301
      end

      Connection.close(conn)
    end

    test "fold functions run in the caller; a raise in one leaves nothing behind" do
      ns = Sandbox.netns!()
      many_links!(ns, 40)
      {:ok, conn} = Connection.open(0, {:path, ns.path})
      me = self()

      assert {:ok, pids} =
               Request.fold(conn, @rtm_getlink, nlm_f_dump(), <<0::128>>, [], fn _m, acc ->
                 [self() | acc]
               end)

      assert length(pids) == 81
      assert Enum.uniq(pids) == [me]

      assert_raise RuntimeError, "boom", fn ->
        Request.fold(conn, @rtm_getlink, nlm_f_dump(), <<0::128>>, 0, fn _m, _acc ->
          raise "boom"
        end)
      end

      await_idle(conn)
      assert {:ok, links} = list_links(conn)
      assert length(links) == 81
      assert mailbox() == []
      Connection.close(conn)
    end
  end

  defp read_until_seq(sock, seq) do
    {:ok, %{iov: iov}} = :socket.recvmsg(sock.socket, 65_536, 0, [], 5_000)
    buf = IO.iodata_to_binary(iov)

    if Enum.any?(Message.decode(buf), &(&1.seq == seq)), do: buf, else: read_until_seq(sock, seq)
  end

  describe "callers that go away" do
    test "a caller killed with its dump in flight does not wedge the connection" do
      ns = Sandbox.netns!()
      many_links!(ns, 300)
      {:ok, conn} = Connection.open(0, {:path, ns.path})

      # Deterministic: the caller dies before the connection even sends its dump, so the
      # whole dump is abandoned in the kernel and must be drained.
      :ok = :sys.suspend(conn.pid)
      caller = spawn(fn -> list_links(conn) end)
      wait_until(fn -> Process.info(conn.pid, :message_queue_len) == {:message_queue_len, 1} end)
      Process.exit(caller, :kill)
      :ok = :sys.resume(conn.pid)

      assert {:ok, links} = list_links(conn)
      assert length(links) == 601

      # And a caller killed while its fold function is working on the first message.
      test = self()

      caller =
        spawn(fn ->
          Request.fold(conn, @rtm_getlink, nlm_f_dump(), <<0::128>>, 0, fn _m, _acc ->
            send(test, :in_dump)
            Process.sleep(:infinity)
          end)
        end)

      assert_receive :in_dump, 5_000
      Process.exit(caller, :kill)

      assert {:ok, links} = list_links(conn)
      assert length(links) == 601
      await_idle(conn)
      Connection.close(conn)
    end

    test "timeouts: an unanswered request is :etimedout; abandoned dumps are drained" do
      ns = Sandbox.netns!()
      many_links!(ns, 100)
      {:ok, conn} = Connection.open(0, {:path, ns.path})

      # Control messages below NLMSG_MIN_TYPE get no reply without NLM_F_ACK.
      assert {:error,
              %Error{errno: :etimedout, operation: :recv, message: "no reply within 100 ms"}} =
               Request.talk(conn, nlmsg_noop(), 0, "", timeout: 100)

      # Same result as on a socket.
      {:ok, sock} = Rtnl.open({:path, ns.path})

      assert Request.talk(sock, nlmsg_noop(), 0, "", timeout: 100) ==
               Request.talk(conn, nlmsg_noop(), 0, "", timeout: 100)

      Socket.close(sock)

      # Dumps given up at once (timeout 0), some while queued, some mid-reply.
      results =
        1..20
        |> Enum.map(fn _ -> Task.async(fn -> list_links(conn, timeout: 0) end) end)
        |> Task.await_many(30_000)

      for result <- results do
        assert match?({:ok, _}, result) or
                 match?({:error, %Error{errno: :etimedout}}, result)
      end

      assert {:ok, links} = list_links(conn)
      assert length(links) == 201
      await_idle(conn)
      assert mailbox() == []
      Connection.close(conn)
    end
  end

  describe "dump semantics" do
    test "NLM_F_DUMP_INTR under link churn: reported as :eintr without retries, healed by them" do
      ns = Sandbox.netns!()
      many_links!(ns, 200)
      {:ok, conn} = Connection.open(0, {:path, ns.path})

      churn =
        spawn_link(fn ->
          Stream.repeatedly(fn ->
            System.cmd("ip", ~w(-n #{ns.name} link add cx type veth peer name cy))
            System.cmd("ip", ~w(-n #{ns.name} link del cx))
          end)
          |> Stream.run()
        end)

      dumps = fn retries ->
        for _ <- 1..150 do
          Request.fold(
            conn,
            @rtm_getlink,
            nlm_f_dump(),
            <<0::128>>,
            [],
            fn m, acc -> [Link.decode_message(m).name | acc] end,
            dump_retries: retries
          )
        end
      end

      without = dumps.(0)
      with_retries = dumps.(4)
      Process.unlink(churn)
      Process.exit(churn, :kill)

      interrupted = &Enum.count(&1, fn r -> match?({:error, %Error{errno: :eintr}}, r) end)
      assert interrupted.(without) > 0, "churn never interrupted a dump; the test proves nothing"
      assert interrupted.(with_retries) < interrupted.(without)

      for {:ok, names} <- without ++ with_retries,
          do: assert(length(names) == length(Enum.uniq(names)))

      await_idle(conn)
      Connection.close(conn)
    end
  end

  describe "failures" do
    test "a connection crash surfaces as an %Error{} to callers waiting on it" do
      ns = Sandbox.netns!()
      Process.flag(:trap_exit, true)
      {:ok, conn} = Connection.open(0, {:path, ns.path})

      waiting =
        Task.async(fn -> Request.talk(conn, nlmsg_noop(), 0, "", timeout: :infinity) end)

      wait_until(fn -> map_size(state(conn).entries) == 1 end)
      Process.exit(conn.pid, :kill)
      assert_receive {:EXIT, _, :killed}

      assert {:error, %Error{errno: :ebadf, message: "netlink connection exited: :killed"}} =
               Task.await(waiting)

      assert {:error, %Error{errno: :ebadf, message: "netlink connection closed"}} =
               list_links(conn)

      assert route_sockets(ns) == []
    end

    test "closing with requests in flight fails them with :ebadf" do
      ns = Sandbox.netns!()
      {:ok, conn} = Connection.open(0, {:path, ns.path})

      waiting =
        Task.async(fn -> Request.talk(conn, nlmsg_noop(), 0, "", timeout: :infinity) end)

      wait_until(fn -> map_size(state(conn).entries) == 1 end)
      :ok = Connection.close(conn)

      assert {:error, %Error{errno: :ebadf, message: "netlink connection closed"}} =
               Task.await(waiting)
    end

    test "kernel errors are the same as over a socket (errno, extack, operation, object)" do
      ns = Sandbox.netns!()
      {:ok, conn} = Connection.open(0, {:path, ns.path})
      {:ok, sock} = Rtnl.open({:path, ns.path})
      :ok = create_veth(conn, "v0", "v1")

      exists = create_veth(conn, "v0", "v9")
      assert {:error, %Error{errno: :eexist, object: "v0"}} = exists
      assert exists == create_veth(sock, "v0", "v9")

      missing = get_link(conn, "nope0")
      assert {:error, %Error{errno: :enodev, operation: :get_link, object: "nope0"}} = missing
      assert missing == get_link(sock, "nope0")

      info = Attr.encode([{1, "linx-no-such-kind\0"}])
      payload = <<0::128>> <> Attr.encode([{3, "bogus0\0"}, {18, info}])
      flags = nlm_f_create() ||| nlm_f_excl() ||| nlm_f_ack()
      unknown_kind = Request.talk(conn, @rtm_newlink, flags, payload)
      assert {:error, %Error{errno: :eopnotsupp, message: message}} = unknown_kind
      assert message =~ "Unknown device type"
      assert unknown_kind == Request.talk(sock, @rtm_newlink, flags, payload)

      Socket.close(sock)
      Connection.close(conn)
    end

    test "a receive-buffer overrun fails the requests whose replies may be lost, not later ones" do
      ns = Sandbox.netns!()
      {:ok, conn} = Connection.open(0, {:path, ns.path}, rcvbuf: 4096)

      # All 50 GETs are sent before the connection reads any reply: the tiny buffer
      # overflows, the kernel drops replies and reports ENOBUFS.
      :ok = :sys.suspend(conn.pid)
      tasks = for _ <- 1..50, do: Task.async(fn -> get_link(conn, "lo") end)
      wait_until(fn -> Process.info(conn.pid, :message_queue_len) == {:message_queue_len, 50} end)
      :ok = :sys.resume(conn.pid)

      results = Task.await_many(tasks, 30_000)

      for result <- results do
        assert match?({:ok, %Link{name: "lo"}}, result) or
                 match?({:error, %Error{errno: :enobufs, operation: :get_link}}, result)
      end

      assert Enum.any?(results, &match?({:error, %Error{errno: :enobufs}}, &1))
      await_idle(conn)
      assert {:ok, %Link{name: "lo"}} = get_link(conn, "lo")
      Connection.close(conn)
    end
  end

  describe "reading datagrams whole" do
    test "a datagram larger than the first read buffer is read whole, one at a time" do
      ns = Sandbox.netns!()
      {:ok, sock} = Rtnl.open({:path, ns.path})
      :ok = Socket.add_membership(sock, 1)
      Sandbox.ip!(ns.name, ~w(link add v0 type veth peer name v1))
      Process.sleep(100)

      # Start with a 16-byte buffer: it doubles until the notification fits.
      assert {:ok, %{from: 0, overrun: false, truncated: false, data: first, size: size}} =
               Connection.read_datagram(sock.socket, 16)

      assert byte_size(first) > 512
      # the buffer grew by doubling from 16 to the first power of two that fits
      assert size >= byte_size(first) and size < 2 * byte_size(first)
      assert [%Message{type: 16} = m1] = Message.decode(first)
      assert %Link{name: name1} = Link.decode_message(m1)

      # The peeked datagram was removed: the next read is the next notification.
      assert {:ok, %{data: second}} = Connection.read_datagram(sock.socket, size)
      assert [%Message{type: 16} = m2] = Message.decode(second)
      assert %Link{name: name2} = Link.decode_message(m2)
      assert Enum.sort([name1, name2]) == ["v0", "v1"]
      assert :select = Connection.read_datagram(sock.socket, size)
      Socket.close(sock)
    end
  end

  defp wait_until(fun, tries \\ 250) do
    cond do
      fun.() -> :ok
      tries == 0 -> flunk("condition never became true")
      true -> Process.sleep(10) && wait_until(fun, tries - 1)
    end
  end
end
