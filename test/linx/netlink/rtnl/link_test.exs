defmodule Linx.Netlink.Rtnl.LinkTest do
  use ExUnit.Case, async: true

  alias Linx.Netlink.{Attr, Error, Message, Rtnl, Socket}
  alias Linx.Netlink.Rtnl.Link
  alias Linx.Test.Sandbox

  doctest Link
  doctest Linx.Netlink.Rtnl.HwAddr

  defp link_message(attrs, type \\ 772) do
    header = <<0, 0, type::native-16, 9::native-signed-32, 0x49::native-32, 0::32>>
    %Message{type: 16, payload: header <> Attr.encode(attrs)}
  end

  describe "decoding link-layer addresses of every length (0.2 crashed on non-6-byte ones)" do
    test "tunnels (4 and 16 bytes), infiniband (20 bytes), none, and empty" do
      for {bytes, expected} <- [
            {<<10, 0, 0, 1>>, <<10, 0, 0, 1>>},
            {:binary.copy(<<0xFE>>, 16), :binary.copy(<<0xFE>>, 16)},
            {:binary.copy(<<0x80>>, 20), :binary.copy(<<0x80>>, 20)},
            {<<>>, nil},
            {<<2, 1, 2, 3, 4, 5>>, %Linx.MAC{bytes: <<2, 1, 2, 3, 4, 5>>}}
          ] do
        link = Link.decode_message(link_message([{3, "t0\0"}, {1, bytes}, {2, bytes}]))
        assert %Link{name: "t0", address: ^expected, broadcast: ^expected} = link
      end
    end

    test "short or truncated attributes decode to nil instead of crashing" do
      link =
        Link.decode_message(
          link_message([{3, "x\0"}, {4, <<1, 2>>}, {30, <<>>}, {23, <<1, 2, 3>>}])
        )

      assert %Link{name: "x", mtu: nil, promiscuity: nil} = link
      assert %Link{family: nil} = Link.decode(<<1, 2, 3>>)
    end

    test "non-link messages are not links" do
      assert Link.decode_message(%Message{type: 24, payload: <<0::256>>}) == nil
    end
  end

  describe "live, in the host netns (read-only)" do
    test "list includes lo and get/2 works by name and by index" do
      {:ok, sock} = Rtnl.open()
      assert {:ok, links} = Link.list(sock)
      lo = Enum.find(links, &(&1.name == "lo"))
      assert %Link{index: 1, type: 772, mtu: mtu} = lo
      assert is_integer(mtu)
      assert Link.up?(lo)
      assert :loopback in Link.flag_names(lo)
      assert {:ok, %Link{index: 1}} = Link.get(sock, "lo")
      assert {:ok, %Link{name: "lo"}} = Link.get(sock, 1)
      assert inspect(lo) =~ ~s[#Linx.Netlink.Rtnl.Link<"lo" (1) UP]
      Socket.close(sock)
    end

    test "an unknown link is ENODEV naming it (never a raw tuple)" do
      {:ok, sock} = Rtnl.open()

      assert {:error,
              %Error{
                errno: :enodev,
                code: 19,
                operation: :get_link,
                object: "nope0",
                message: msg
              } = e} =
               Link.get(sock, "nope0")

      assert msg == ~s(no such interface "nope0")
      assert Exception.message(e) =~ "nope0"
      assert {:error, %Error{errno: :enodev}} = Link.get(sock, 0x7FFFFFF0)
      Socket.close(sock)
    end

    test "bad names and indexes raise ArgumentError naming the value" do
      {:ok, sock} = Rtnl.open()
      too_long = String.duplicate("a", 16)
      assert_raise ArgumentError, ~r/#{too_long}/, fn -> Link.get(sock, too_long) end
      assert_raise ArgumentError, ~r/""/, fn -> Link.get(sock, "") end
      assert_raise ArgumentError, ~r/a\/b/, fn -> Link.get(sock, "a/b") end
      assert_raise ArgumentError, ~r/-1/, fn -> Link.get(sock, -1) end
      assert_raise ArgumentError, ~r/:lo/, fn -> Link.get(sock, :lo) end
      Socket.close(sock)
    end
  end

  @tag :root
  @tag :iproute2
  test "a tun device (no link-layer address at all) lists without crashing" do
    ns = Sandbox.netns!()
    Sandbox.ip!(ns.name, ~w(tuntap add linxtun0 mode tun))
    {:ok, sock} = Rtnl.open({:path, ns.path})
    {:ok, links} = Link.list(sock)
    tun = Enum.find(links, &(&1.name == "linxtun0"))
    assert %Link{address: nil, type: 65534} = tun
    assert Link.kind(tun) == "tun"
    Socket.close(sock)
  end

  @tag :root
  @tag :iproute2
  test "create_veth, create_bridge, set_master, set_up/down agree with ip -j" do
    ns = Sandbox.netns!()
    {:ok, sock} = Rtnl.open({:path, ns.path})
    assert :ok = Link.create_veth(sock, "lxa", "lxb")
    assert :ok = Link.create_bridge(sock, "lxbr")
    assert :ok = Link.set_master(sock, "lxb", "lxbr")
    assert :ok = Link.set_up(sock, "lxa")
    {:ok, %Link{index: br_index}} = Link.get(sock, "lxbr")
    assert :ok = Link.set_up(sock, br_index)

    by_name = Map.new(Sandbox.ip_json!(ns.name, ~w(-d link show)), &{&1["ifname"], &1})
    assert by_name["lxa"]["linkinfo"]["info_kind"] == "veth"
    assert by_name["lxb"]["master"] == "lxbr"
    assert "UP" in by_name["lxa"]["flags"]
    assert "UP" in by_name["lxbr"]["flags"]

    assert :ok = Link.set_down(sock, "lxa")
    refute "UP" in hd(Sandbox.ip_json!(ns.name, ~w(link show dev lxa)))["flags"]

    assert {:error, %Error{errno: :eexist, operation: :create_bridge, object: "lxbr"}} =
             Link.create_bridge(sock, "lxbr")

    assert {:error, %Error{errno: :enodev, message: "no such interface \"nope\""}} =
             Link.set_up(sock, "nope")

    assert_raise ArgumentError, fn -> Link.create_veth(sock, "x", String.duplicate("y", 16)) end
    Socket.close(sock)
  end
end
