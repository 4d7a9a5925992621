defmodule Linx.Netlink.RequestTest do
  use ExUnit.Case, async: true

  import Bitwise
  import Linx.Netlink.Constants

  alias Linx.Netlink.{Attr, Error, Message, Request, Rtnl, Socket}
  alias Linx.Test.Sandbox

  @opts %{operation: :test, object: :obj}
  @collect &__MODULE__.collect/2

  def collect(msg, acc), do: [msg | acc]

  defp state(seq \\ 5), do: %{seq: seq, acc: [], interrupted: false, wants_ack: false}

  defp msg(type, flags, seq, payload),
    do: Message.encode(%Message{type: type, flags: flags, seq: seq, payload: payload})

  describe "reply classification (synthesized kernel datagrams)" do
    test "a bare ack ends the request with no data" do
      assert {:ok, []} =
               Request.consume(
                 msg(nlmsg_error(), 0, 5, <<0::native-32, 0::128>>),
                 state(),
                 @collect,
                 @opts
               )
    end

    test "multipart data is collected until NLMSG_DONE" do
      buf = msg(16, nlm_f_multi(), 5, "a") <> msg(16, nlm_f_multi(), 5, "b")
      assert {:more, st} = Request.consume(buf, state(), @collect, @opts)

      assert {:ok, [%{payload: "b"}, %{payload: "a"}]} =
               Request.consume(
                 msg(nlmsg_done(), nlm_f_multi(), 5, <<0::native-32>>),
                 st,
                 @collect,
                 @opts
               )
    end

    test "a negative errno in NLMSG_DONE is an error, never {:ok, partial}" do
      buf =
        msg(16, nlm_f_multi(), 5, "a") <>
          msg(nlmsg_done(), nlm_f_multi(), 5, <<-16::native-signed-32>>)

      assert {:error, %Error{errno: :ebusy, code: 16, operation: :test}} =
               Request.consume(buf, state(), @collect, @opts)
    end

    test "NLM_F_DUMP_INTR on any message marks the dump interrupted" do
      buf =
        msg(16, nlm_f_multi() ||| nlm_f_dump_intr(), 5, "a") <>
          msg(nlmsg_done(), nlm_f_multi(), 5, <<0::native-32>>)

      assert {:interrupted, _} = Request.consume(buf, state(), @collect, @opts)
    end

    test "replies with another sequence number are skipped" do
      buf = msg(16, 0, 4, "stale") <> msg(16, 0, 5, "mine")
      assert {:ok, [%{payload: "mine"}]} = Request.consume(buf, state(), @collect, @opts)
    end

    test "extended ack text is read from capped and uncapped errors" do
      tlvs = Attr.encode([{1, "Unknown device type\0"}, {2, <<32::native-32>>}])
      request = msg(16, 5, 5, <<0::128>>)

      capped =
        msg(
          nlmsg_error(),
          nlm_f_capped() ||| nlm_f_ack_tlvs(),
          5,
          <<-95::native-signed-32, binary_part(request, 0, 16)::binary, tlvs::binary>>
        )

      assert {:error, %Error{errno: :eopnotsupp, message: "Unknown device type"}} =
               Request.consume(capped, state(), @collect, @opts)

      uncapped =
        msg(
          nlmsg_error(),
          nlm_f_ack_tlvs(),
          5,
          <<-95::native-signed-32, request::binary, tlvs::binary>>
        )

      assert {:error, %Error{errno: :eopnotsupp, message: "Unknown device type"}} =
               Request.consume(uncapped, state(), @collect, @opts)

      missing = Attr.encode([{5, <<3::native-32>>}])

      m =
        msg(
          nlmsg_error(),
          nlm_f_capped() ||| nlm_f_ack_tlvs(),
          5,
          <<-22::native-signed-32, binary_part(request, 0, 16)::binary, missing::binary>>
        )

      assert {:error, %Error{errno: :einval, message: "missing attribute type 3"}} =
               Request.consume(m, state(), @collect, @opts)
    end

    test "malformed replies are :eproto errors, never crashes" do
      assert {:error, %Error{errno: :eproto}} =
               Request.consume(<<40::native-32, 0::96>>, state(), @collect, @opts)

      assert {:error, %Error{errno: :eproto}} =
               Request.consume(msg(nlmsg_error(), 0, 5, <<1>>), state(), @collect, @opts)

      assert {:error, %Error{errno: :enobufs}} =
               Request.consume(msg(nlmsg_overrun(), 0, 5, ""), state(), @collect, @opts)
    end

    test "random datagrams never raise" do
      :rand.seed(:exsss, {ExUnit.configuration()[:seed], 1, 1})

      for _ <- 1..5_000 do
        payload = :crypto.strong_rand_bytes(:rand.uniform(40) - 1)
        type = Enum.random([1, 2, 3, 4, 16, 99])
        flags = :rand.uniform(0xFFFF + 1) - 1
        buf = msg(type, flags, 5, payload)
        result = Request.consume(buf, state(), @collect, @opts)
        assert elem(result, 0) in [:ok, :more, :error, :interrupted]
      end
    end
  end

  describe "live requests" do
    test "a request the kernel never answers times out with :etimedout" do
      {:ok, sock} = Rtnl.open()
      # Control messages below NLMSG_MIN_TYPE get no reply unless NLM_F_ACK is set.
      assert {:error, %Error{errno: :etimedout, operation: :recv}} =
               Request.talk(sock, nlmsg_noop(), 0, "", timeout: 100)

      # The socket stays usable afterwards.
      assert {:ok, %{name: "lo"}} = Rtnl.Link.get(sock, "lo")
      Socket.close(sock)
    end

    test "an ack is requested and returned as {:ok, []}" do
      {:ok, sock} = Rtnl.open()
      assert {:ok, []} = Request.talk(sock, nlmsg_noop(), nlm_f_ack())
      Socket.close(sock)
    end

    test "invalid options raise ArgumentError naming them" do
      {:ok, sock} = Rtnl.open()

      assert_raise ArgumentError, ~r/dump_retries/, fn ->
        Request.talk(sock, 18, nlm_f_dump(), "", dump_retries: -1)
      end

      assert_raise ArgumentError, ~r/bogus/, fn ->
        Request.talk(sock, 18, nlm_f_dump(), "", bogus: 1)
      end

      Socket.close(sock)
    end

    @tag :root
    @tag :iproute2
    test "a kernel error carries the extended-ack message" do
      ns = Sandbox.netns!()
      {:ok, sock} = Rtnl.open({:path, ns.path})
      # RTM_NEWLINK for an unknown kind: the kernel explains why in the extended ack.
      info = Attr.encode([{1, "linx-no-such-kind\0"}])
      payload = <<0::128>> <> Attr.encode([{3, "bogus0\0"}, {18, info}])

      assert {:error, %Error{errno: :eopnotsupp, message: message}} =
               Request.talk(sock, 16, nlm_f_create() ||| nlm_f_excl() ||| nlm_f_ack(), payload)

      assert message =~ "Unknown device type"
      Socket.close(sock)
    end

    @tag :root
    @tag :iproute2
    test "a dump far larger than 8 KiB and than one datagram arrives whole" do
      ns = Sandbox.netns!()

      batch =
        Enum.map_join(1..150, "\n", fn i -> "link add lv#{i}a type veth peer name lv#{i}b" end)

      path = Path.join(System.tmp_dir!(), "#{ns.name}.batch")
      File.write!(path, batch <> "\n")
      Sandbox.cmd!("ip", ["-n", ns.name, "-batch", path])
      File.rm!(path)

      {:ok, sock} = Rtnl.open({:path, ns.path})
      {:ok, links} = Rtnl.Link.list(sock)

      expected =
        Sandbox.ip_json!(ns.name, ~w(link show)) |> Enum.map(& &1["ifname"]) |> Enum.sort()

      assert length(links) == 301
      assert Enum.sort(Enum.map(links, & &1.name)) == expected

      sizes = :counters.new(1, [])

      {:ok, _} =
        Request.fold(sock, 18, nlm_f_dump(), <<0::128>>, 0, fn m, acc ->
          :counters.add(sizes, 1, byte_size(m.payload))
          acc + 1
        end)

      assert :counters.get(sizes, 1) > 64 * 1024
      Socket.close(sock)
    end

    @tag :root
    @tag :iproute2
    test "live NLM_F_DUMP_INTR under link churn: detected without retries, healed by them" do
      ns = Sandbox.netns!()
      path = Path.join(System.tmp_dir!(), "#{ns.name}.batch")

      File.write!(
        path,
        Enum.map_join(1..200, "", &"link add c#{&1}a type veth peer name c#{&1}b\n")
      )

      Sandbox.cmd!("ip", ["-n", ns.name, "-batch", path])
      File.rm!(path)

      churn =
        spawn_link(fn ->
          Stream.repeatedly(fn ->
            System.cmd("ip", ~w(-n #{ns.name} link add cx type veth peer name cy))
            System.cmd("ip", ~w(-n #{ns.name} link del cx))
          end)
          |> Stream.run()
        end)

      {:ok, sock} = Rtnl.open({:path, ns.path})

      dump = fn retries ->
        for _ <- 1..150 do
          Request.fold(
            sock,
            18,
            nlm_f_dump(),
            <<0::128>>,
            [],
            fn m, acc -> [Rtnl.Link.decode_message(m).name | acc] end,
            dump_retries: retries
          )
        end
      end

      without = dump.(0)
      with_retries = dump.(4)
      Process.unlink(churn)
      Process.exit(churn, :kill)
      Socket.close(sock)

      interrupted = fn results ->
        Enum.count(results, &match?({:error, %Error{errno: :eintr}}, &1))
      end

      assert interrupted.(without) > 0, "churn never interrupted a dump; the test proves nothing"
      assert interrupted.(with_retries) < interrupted.(without)

      # Every dump that succeeded is internally consistent: no link seen twice.
      for {:ok, names} <- without ++ with_retries,
          do: assert(length(names) == length(Enum.uniq(names)))
    end
  end
end
