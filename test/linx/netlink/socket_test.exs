defmodule Linx.Netlink.SocketTest do
  use ExUnit.Case, async: true

  alias Linx.Netlink.{Error, Rtnl, Socket}
  alias Linx.Netlink.Socket.Native
  alias Linx.Test.Sandbox

  describe "open/3 in the host netns" do
    test "opens, is close-on-exec, is bound, and closes" do
      assert {:ok, %Socket{netns: :host, protocol: 0} = sock} = Socket.open(0)
      assert {:ok, fd} = Socket.fd(sock)
      assert {:ok, true} = Native.cloexec(fd)
      assert {:ok, port} = Socket.port_id(sock)
      assert port > 0
      assert :ok = Socket.close(sock)
      assert :ok = Socket.close(sock)
    end

    test "sequence numbers start at 1, are shared by copies, and wrap within 32 bits skipping 0" do
      {:ok, sock} = Socket.open(0)
      copy = sock
      assert Enum.map(1..3, fn _ -> Socket.next_seq(sock) end) == [1, 2, 3]
      assert Socket.next_seq(copy) == 4

      :atomics.put(sock.seq, 1, 0xFFFFFFFF - 2)
      assert Enum.map(1..4, fn _ -> Socket.next_seq(sock) end) == [0xFFFFFFFE, 0xFFFFFFFF, 1, 2]

      # A request still matches its reply after the wrap (0.2 kept counting past 2^32).
      :atomics.put(sock.seq, 1, 0xFFFFFFFF * 3 - 1)
      assert {:ok, %{name: "lo"}} = Rtnl.Link.get(sock, "lo")
      Socket.close(sock)
    end

    test "rcvbuf is applied (forced beyond rmem_max for root) and readable" do
      {:ok, sock} = Socket.open(0, :host, rcvbuf: 4 * 1024 * 1024)
      assert {:ok, granted} = Socket.rcvbuf(sock)
      assert granted >= 2 * 1024 * 1024
      assert :ok = Socket.set_rcvbuf(sock, 256 * 1024)
      Socket.close(sock)
    end

    test "multicast membership can be joined and left" do
      {:ok, sock} = Socket.open(0)
      assert :ok = Socket.add_membership(sock, 1)
      assert :ok = Socket.drop_membership(sock, 1)
      Socket.close(sock)
    end

    test "a closed socket reports a clear error" do
      {:ok, sock} = Socket.open(0)
      Socket.close(sock)
      assert {:error, %Error{errno: :ebadf}} = Rtnl.Link.list(sock)
    end
  end

  describe "bad arguments" do
    test "malformed netns forms, protocols and options raise ArgumentError naming the value" do
      for bad <- [:self, 3, {:pid, 0}, {:pid, -1}, {:pid, "1"}, {:path, ""}, {:path, ~c"/x"}, "x"] do
        error = assert_raise ArgumentError, fn -> Socket.open(0, bad) end
        assert error.message =~ inspect(bad)
      end

      assert_raise ArgumentError, ~r/NUL/, fn ->
        Socket.open(0, {:path, "/proc/self\0/ns/net"})
      end

      assert_raise ArgumentError, ~r/-1/, fn -> Socket.open(-1) end
      assert_raise ArgumentError, ~r/32/, fn -> Socket.open(32) end
      assert_raise ArgumentError, ~r/bogus/, fn -> Socket.open(0, :host, bogus: 1) end
      assert_raise ArgumentError, ~r/rcvbuf/, fn -> Socket.open(0, :host, rcvbuf: 0) end
    end

    test "a missing process is an :enoent error from the open stage, not a raw tuple" do
      assert {:error,
              %Error{errno: :enoent, code: 2, operation: :open, object: {:pid, 999_999_999}}} =
               Rtnl.open({:pid, 999_999_999})
    end

    test "a missing netns file is :enoent" do
      assert {:error, %Error{errno: :enoent, operation: :open}} =
               Rtnl.open({:path, "/run/netns/linx-test-does-not-exist"})
    end

    test "a file that is not a network namespace is :einval from setns" do
      assert {:error, %Error{errno: :einval, operation: :setns} = e} =
               Rtnl.open({:path, "/proc/self/status"})

      assert Exception.message(e) =~ "setns"
      assert Exception.message(e) =~ "EINVAL"
    end

    test "a namespace file of another kind is :einval from setns" do
      assert {:error, %Error{errno: :einval, operation: :setns}} =
               Rtnl.open({:path, "/proc/self/ns/uts"})
    end

    test "bind failures are surfaced by the NIF with their errno" do
      assert {:error, {:fd, 9}} = Native.bind_netlink(-1, 0)
      {:ok, sock} = Socket.open(0)
      {:ok, sfd} = Socket.fd(sock)
      # Socket.open/3 already bound it: a second bind is the kernel's EINVAL, not swallowed.
      assert {:error, {:bind, 22}} = Native.bind_netlink(sfd, 0)
      {:ok, nfd} = Native.open(nil, 0, 0)
      :ok = Native.close_fd(nfd)
      assert {:error, {:bind, 9}} = Native.bind_netlink(nfd, 0)
      Socket.close(sock)
    end
  end

  describe "other namespaces" do
    @describetag :root
    @describetag :iproute2

    test "{:pid, n}, {:path, /proc/PID/ns/net} and {:path, /run/netns/NAME} see their own links" do
      ns = Sandbox.netns!()
      Sandbox.ip!(ns.name, ~w(link add linxv0 type veth peer name linxv1))

      assert {:ok, sock} = Rtnl.open({:path, ns.path})
      assert {:ok, links} = Rtnl.Link.list(sock)
      assert Enum.sort(Enum.map(links, & &1.name)) == ["linxv0", "linxv1", "lo"]
      Socket.close(sock)

      assert {:ok, sock} = Rtnl.open({:pid, String.to_integer(System.pid())})
      assert {:ok, host_links} = Rtnl.Link.list(sock)
      refute Enum.any?(host_links, &(&1.name == "linxv0"))
      assert sock.netns == {:pid, String.to_integer(System.pid())}
      Socket.close(sock)

      assert {:ok, sock} = Rtnl.open({:path, "/proc/self/ns/net"})
      Socket.close(sock)
    end
  end
end
