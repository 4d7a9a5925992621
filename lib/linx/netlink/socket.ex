defmodule Linx.Netlink.Socket do
  @moduledoc """
  An `AF_NETLINK` socket pinned to a network namespace, driven through OTP's `:socket`.

      {:ok, sock} = Linx.Netlink.Socket.open(0, {:path, "/proc/1/ns/net"})
      Linx.Netlink.Socket.close(sock)

  Namespaces (`t:netns/0`): `:host` (the BEAM's own), `{:pid, os_pid}` (that process's
  netns) or `{:path, path}` (a netns file such as `/run/netns/NAME` or
  `/proc/PID/ns/net`). The socket is created by the `linx_netlink` NIF on a throwaway
  thread that enters the namespace, so no BEAM thread ever changes namespace; a socket
  keeps the netns it was created in for its whole life. The descriptor is close-on-exec,
  owned by the `:socket` handle, and closed with it (or when its owner process exits).

  Every socket gets extended acks (the kernel's error text) and capped acks, is bound
  with a kernel-assigned port id, and has a receive buffer of `:rcvbuf` bytes (forced
  past `net.core.rmem_max` when the caller has CAP_NET_ADMIN).

  One process drives one socket at a time (replies are matched by sequence number, but
  two concurrent readers would steal each other's datagrams).
  """

  alias Linx.Netlink.Error
  alias Linx.Netlink.Socket.Native

  @enforce_keys [:socket, :netns, :protocol, :seq]
  defstruct [:socket, :netns, :protocol, :seq]

  @typedoc "Where a socket lives: the host's netns, a process's, or a netns file."
  @type netns :: :host | {:pid, pos_integer()} | {:path, binary()}

  @type t :: %__MODULE__{
          socket: :socket.socket(),
          netns: netns(),
          protocol: non_neg_integer(),
          seq: :atomics.atomics_ref()
        }

  @af_netlink 16
  @sol_netlink 270
  @netlink_add_membership 1
  @netlink_drop_membership 2
  @default_rcvbuf 1024 * 1024

  @doc """
  Opens a netlink socket for `protocol` (`NETLINK_ROUTE` = 0, `NETLINK_NETFILTER` = 12,
  ...) in `netns`.

  Options: `:rcvbuf` (bytes, default 1 MiB).

  Returns `{:ok, socket}` or `{:error, %Linx.Netlink.Error{}}` whose `:operation` is the
  failed stage (`:open` for a missing netns file, `:setns` for a file that is not a
  network namespace or a lack of privilege, `:socket`, `:bind`, ...) and whose `:object`
  is the `netns` given. A malformed argument raises `ArgumentError`.
  """
  @spec open(non_neg_integer(), netns(), keyword()) :: {:ok, t()} | {:error, Error.t()}
  def open(protocol, netns \\ :host, opts \\ [])

  def open(protocol, netns, opts) when is_integer(protocol) and protocol in 0..31 do
    path = netns_path!(netns)
    rcvbuf = rcvbuf!(Keyword.get(opts, :rcvbuf, @default_rcvbuf))
    unknown = Keyword.keys(opts) -- [:rcvbuf]

    unknown == [] or
      raise ArgumentError, "unknown option(s) #{inspect(unknown)} for Socket.open/3"

    with {:ok, fd} <- native(Native.open(path, protocol, rcvbuf), netns),
         {:ok, socket} <- adopt(fd, protocol, netns) do
      {:ok,
       %__MODULE__{
         socket: socket,
         netns: netns,
         protocol: protocol,
         seq: :atomics.new(1, signed: false)
       }}
    end
  end

  def open(protocol, _netns, _opts) do
    raise ArgumentError, "netlink protocol must be an integer in 0..31, got: #{inspect(protocol)}"
  end

  # OTP dups the fd it adopts; the dup lacks FD_CLOEXEC, so it is set again, and the
  # original is closed: the `:socket` handle is then the only owner.
  defp adopt(fd, protocol, netns) do
    result = :socket.open(fd, %{domain: @af_netlink, type: :raw, protocol: protocol})
    _ = Native.close_fd(fd)

    case result do
      {:ok, socket} ->
        with {:ok, dup} <- :socket.getopt(socket, {:otp, :fd}),
             :ok <- Native.set_cloexec(dup) do
          {:ok, socket}
        else
          error ->
            _ = :socket.close(socket)
            {:error, socket_error(error, :adopt, netns)}
        end

      {:error, reason} ->
        {:error, socket_error(reason, :adopt, netns)}
    end
  end

  defp native({:ok, fd}, _netns), do: {:ok, fd}

  defp native({:error, {stage, code}}, netns),
    do: {:error, Error.new(code, operation: stage, object: netns)}

  @doc false
  @spec netns_path!(netns()) :: binary() | nil
  def netns_path!(:host), do: nil
  def netns_path!({:pid, pid}) when is_integer(pid) and pid > 0, do: "/proc/#{pid}/ns/net"

  def netns_path!({:path, path}) when is_binary(path) and path != "" do
    if String.contains?(path, <<0>>) do
      raise ArgumentError, "netns path contains a NUL byte: #{inspect(path)}"
    end

    path
  end

  def netns_path!(other) do
    raise ArgumentError,
          "netns must be :host, {:pid, pos_integer} or {:path, binary}, got: #{inspect(other)}"
  end

  defp rcvbuf!(n) when is_integer(n) and n > 0 and n <= 0x7FFFFFFF, do: n

  defp rcvbuf!(n),
    do: raise(ArgumentError, "rcvbuf must be a positive 32-bit integer, got: #{inspect(n)}")

  @doc "Closes the socket. Idempotent."
  @spec close(t()) :: :ok
  def close(%__MODULE__{socket: socket}) do
    case :socket.close(socket) do
      :ok -> :ok
      {:error, :closed} -> :ok
      {:error, _} -> :ok
    end
  end

  @doc """
  The next request sequence number: 1, 2, ... wrapping within 32 bits and never 0 (0 is
  what the kernel puts on the messages it originates). Shared by copies of the struct.
  """
  @spec next_seq(t()) :: 1..0xFFFFFFFF
  def next_seq(%__MODULE__{seq: ref}) do
    rem(:atomics.add_get(ref, 1, 1) - 1, 0xFFFFFFFF) + 1
  end

  @doc "Joins multicast group `group` (`RTNLGRP_LINK` = 1, `NFNLGRP_NFTABLES` = 7, ...)."
  @spec add_membership(t(), pos_integer()) :: :ok | {:error, Error.t()}
  def add_membership(%__MODULE__{} = sock, group) when is_integer(group) and group > 0,
    do: membership(sock, @netlink_add_membership, group, :add_membership)

  @doc "Leaves multicast group `group`."
  @spec drop_membership(t(), pos_integer()) :: :ok | {:error, Error.t()}
  def drop_membership(%__MODULE__{} = sock, group) when is_integer(group) and group > 0,
    do: membership(sock, @netlink_drop_membership, group, :drop_membership)

  defp membership(sock, opt, group, op) do
    case :socket.setopt_native(sock.socket, {@sol_netlink, opt}, <<group::native-32>>) do
      :ok -> :ok
      {:error, reason} -> {:error, socket_error(reason, op, group)}
    end
  end

  @doc """
  Sets the receive buffer (`SO_RCVBUFFORCE` when privileged, else `SO_RCVBUF` clamped to
  `net.core.rmem_max`). Returns `:ok`; `rcvbuf/1` reads what the kernel granted.
  """
  @spec set_rcvbuf(t(), pos_integer()) :: :ok | {:error, Error.t()}
  def set_rcvbuf(%__MODULE__{} = sock, bytes) do
    bytes = rcvbuf!(bytes)

    with {:ok, fd} <- fd(sock),
         {:ok, _granted} <- native(Native.set_rcvbuf(fd, bytes), sock.netns) do
      :ok
    end
  end

  @doc "The receive buffer size the kernel granted (it doubles requests for bookkeeping)."
  @spec rcvbuf(t()) :: {:ok, pos_integer()} | {:error, Error.t()}
  def rcvbuf(%__MODULE__{socket: socket} = sock) do
    case :socket.getopt(socket, {:socket, :rcvbuf}) do
      {:ok, n} -> {:ok, n}
      {:error, reason} -> {:error, socket_error(reason, :getsockopt, sock.netns)}
    end
  end

  @doc "The kernel-assigned port id (`nl_pid`) of the socket."
  @spec port_id(t()) :: {:ok, non_neg_integer()} | {:error, Error.t()}
  def port_id(%__MODULE__{} = sock) do
    with {:ok, fd} <- fd(sock), do: native(Native.port_id(fd), sock.netns)
  end

  @doc false
  @spec fd(t()) :: {:ok, non_neg_integer()} | {:error, Error.t()}
  def fd(%__MODULE__{socket: socket, netns: netns}) do
    case :socket.getopt(socket, {:otp, :fd}) do
      {:ok, fd} -> {:ok, fd}
      {:error, reason} -> {:error, socket_error(reason, :fd, netns)}
    end
  end

  @doc false
  @spec socket_error(term(), atom(), term()) :: Error.t()
  def socket_error(:closed, op, obj),
    do: Error.new(:ebadf, operation: op, object: obj, message: "socket closed")

  def socket_error(:timeout, op, obj), do: Error.new(:etimedout, operation: op, object: obj)
  def socket_error({:error, reason}, op, obj), do: socket_error(reason, op, obj)

  def socket_error({stage, code}, _op, obj) when is_atom(stage) and is_integer(code),
    do: Error.new(code, operation: stage, object: obj)

  def socket_error(reason, op, obj) when is_atom(reason) do
    case Linx.Errno.to_code(reason) do
      nil -> Error.new(:eio, operation: op, object: obj, message: inspect(reason))
      _ -> Error.new(reason, operation: op, object: obj)
    end
  end

  def socket_error(reason, op, obj),
    do: Error.new(:eio, operation: op, object: obj, message: inspect(reason))
end
