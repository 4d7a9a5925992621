defmodule Linx.Netlink.Rtnl.FuzzTest do
  # Every rtnetlink decoder is fed 100,000 random and mutated kernel messages per object
  # family. The seeds are real replies of this kernel (dumps of a private netns holding
  # one object of each kind Linx models); Linx.Test.Fuzz mutates them. Each input must
  # come back from `Rtnl.decode/1` as `{:ok, _}` or `{:error, %Error{}}`, from the
  # family's `decode/1` as its struct, and from the reply state machine
  # (`Request.consume/4`) as a result tuple: nothing raises.
  use ExUnit.Case, async: false

  @moduletag :root
  @moduletag :iproute2
  @moduletag timeout: 300_000

  import Bitwise

  alias Linx.Netlink.{Error, Message, Request, Rtnl}
  alias Linx.Test.{Fuzz, Sandbox}

  doctest Linx.Netlink.Rtnl

  @inputs_per_family 100_000

  # family => {dump request type, dump header, RTM types of the replies, decoding module}
  @families %{
    link: {18, <<0::128>>, [16, 17], Rtnl.Link},
    address: {22, <<0::64>>, [20, 21], Rtnl.Address},
    neighbour: {30, <<0::96>>, [28, 29], Rtnl.Neighbour},
    rule: {34, <<0::96>>, [32, 33], Rtnl.Rule},
    route: {26, <<0::96>>, [24, 25], Rtnl.Route},
    nexthop: {106, <<0::64>>, [104, 105], Rtnl.Nexthop},
    # if_stats_msg with filter_mask = IFLA_STATS_LINK_64 | LINK_XSTATS | AF_SPEC
    stats: {94, <<0::64, 0b10011::native-32>>, [92], Rtnl.Stats}
  }

  setup_all do
    ns = Sandbox.netns!(tag: "fuzz")

    batch = """
    link add v0 type veth peer name v1
    link set v0 alias "fuzz seed"
    link property add dev v0 altname linx-fuzz-alt
    link add br0 type bridge stp_state 0
    link set v1 master br0
    link set v1 type bridge_slave cost 9
    link add mv0 link v0 type macvlan mode bridge
    link add vx0 type vxlan id 42 dstport 4789 local 10.9.0.1 ttl 8
    tuntap add dev tp0 mode tap
    link set v0 up
    link set v1 up
    link set br0 up
    addr add 10.9.0.1/24 dev v0
    addr add fd00:9::1/64 dev v0 nodad
    route add 10.99.0.0/16 via 10.9.0.2 table 100 metric 5
    route add 10.98.0.0/16 dev v0 proto static mtu 1400
    neigh add 10.9.0.2 lladdr 02:00:00:00:00:02 dev v0 nud permanent
    neigh add proxy 10.9.0.7 dev v0
    rule add from 10.9.0.0/24 fwmark 0x10/0xff table 100 priority 1000
    route add 10.97.0.0/16 table 100 nexthop via 10.9.0.2 weight 2 nexthop via 10.9.0.3 weight 1
    route add fd00:97::/64 via fe80::1 dev v0 metric 7 pref high
    route add blackhole 10.96.0.0/16 table 100
    nexthop add id 1 via 10.9.0.2 dev v0
    nexthop add id 2 via 10.9.0.3 dev v0
    nexthop add id 10 group 1/2,2
    nexthop add id 11 blackhole
    route add 10.95.0.0/16 nhid 10 table 100
    """

    path = Path.join(System.tmp_dir!(), "linx-fuzz-#{System.unique_integer([:positive])}")
    File.write!(path, batch)
    _ = Sandbox.ip!(ns.name, ["-batch", path])
    File.rm!(path)

    {:ok, sock} = Rtnl.open({:path, ns.path})
    on_exit(fn -> Linx.Netlink.Socket.close(sock) end)

    seeds =
      Map.new(@families, fn {family, {get_type, header, _types, _mod}} ->
        {:ok, msgs} = Request.talk(sock, get_type, 0x300, header)
        assert msgs != [], "no #{family} seeds from the kernel"
        {family, Enum.map(msgs, &Message.encode/1)}
      end)

    # Kinds this kernel lacks still reach their decoders: link messages built by hand
    # (uapi layout) carrying vlan, ipvlan and dummy link info join the link seeds.
    %{seeds: Map.update!(seeds, :link, &(&1 ++ synthetic_links()))}
  end

  defp synthetic_links do
    attr = fn type, value ->
      len = 4 + byte_size(value)
      <<len::native-16, type::native-16, value::binary, 0::size(rem(4 - rem(len, 4), 4) * 8)>>
    end

    linkinfo = fn kind, data ->
      attr.(18, attr.(1, kind <> <<0>>) <> if(data == <<>>, do: <<>>, else: attr.(2, data)))
    end

    qos = attr.(1, <<3::native-32, 5::native-32>>)

    vlan =
      attr.(1, <<100::native-16>>) <>
        attr.(2, <<1::native-32, 0xFFFFFFFF::native-32>>) <>
        attr.(3, qos) <> attr.(4, qos) <> attr.(5, <<0x88A8::16>>)

    ipvlan = attr.(1, <<2::native-16>>) <> attr.(2, <<1::native-16>>)

    for {name, info} <- [
          {"vl0", linkinfo.("vlan", vlan)},
          {"ipv0", linkinfo.("ipvlan", ipvlan)},
          {"d0", linkinfo.("dummy", <<>>)}
        ] do
      payload = <<0, 0, 1::native-16, 9::native-32, 0x1003::native-32, 0::32>>
      payload = payload <> attr.(3, name <> <<0>>) <> attr.(5, <<2::native-32>>) <> info
      <<16 + byte_size(payload)::native-32, 16::native-16, 2::native-16, 0::64, payload::binary>>
    end
  end

  for {family, {_get, _hdr, types, module}} <- @families do
    @tag family: family
    test "#{family}: #{@inputs_per_family} mutated messages through every decoder", %{
      seeds: seeds
    } do
      module = unquote(module)
      types = unquote(types)
      rand_seed = :erlang.phash2({unquote(family), :os.system_time(:millisecond)})

      counts =
        seeds
        |> Map.fetch!(unquote(family))
        |> Fuzz.inputs(@inputs_per_family, rand_seed)
        |> Enum.reduce(%{ok: 0, error: 0, struct: 0}, fn {strategy, input}, counts ->
          try do
            check_input(input, module, types, counts)
          rescue
            e ->
              flunk("""
              #{inspect(module)} raised on a #{strategy} input (rand seed #{rand_seed}):
              #{Exception.format(:error, e, __STACKTRACE__)}
              input: #{inspect(input, limit: :infinity)}
              """)
          end
        end)

      assert counts.ok + counts.error == @inputs_per_family
      # The mutations keep many inputs well-framed: the decoders really ran on them.
      assert counts.struct > div(@inputs_per_family, 10), inspect(counts)
    end
  end

  defp check_input(input, module, types, counts) do
    counts =
      case Rtnl.decode(input) do
        {:ok, decoded} when is_list(decoded) ->
          for {op, value} <- decoded do
            assert is_atom(op) or match?({:unknown, _}, op)
            assert value == nil or is_struct(value)
          end

          %{counts | ok: counts.ok + 1}

        {:error, %Error{errno: :eproto}} ->
          %{counts | error: counts.error + 1}
      end

    counts =
      case input do
        <<_len::native-32, type::native-16, _::binary-size(10), payload::binary>> ->
          assert %{__struct__: ^module} = module.decode(payload)
          msg = %Message{type: type, payload: payload}
          decoded = module.decode_message(msg)

          if type in types do
            assert %{__struct__: ^module} = decoded
            %{counts | struct: counts.struct + 1}
          else
            assert decoded == nil
            counts
          end

        _ ->
          counts
      end

    seq =
      case input do
        <<_::binary-size(8), seq::native-32, _::binary>> -> seq
        _ -> 1
      end

    state = %{seq: seq, acc: [], interrupted: false, wants_ack: (seq &&& 1) == 1}
    opts = %{operation: :fuzz, object: nil}

    case Request.consume(input, state, &[&1 | &2], opts) do
      {:more, %{}} -> :ok
      {:ok, acc} when is_list(acc) -> :ok
      {:interrupted, acc} when is_list(acc) -> :ok
      {:error, %Error{}} -> :ok
    end

    counts
  end
end
