defmodule Linx.Netlink.Socket.Native do
  @moduledoc """
  The netlink NIF (`native/linx_netlink`): what netlink needs that the BEAM cannot do.

  Opening a socket inside another network namespace needs `setns(2)`, which changes the
  calling thread's namespace; the NIF does it on a throwaway thread, never on a BEAM
  scheduler. Binding needs a `sockaddr_nl`, which `:socket.bind/2` cannot express.

  Failures come back as `{:error, {stage, errno}}` with `stage` one of `:open`, `:setns`,
  `:socket`, `:thread`, `:setsockopt`, `:rcvbuf`, `:bind`, `:fd`, `:close`, and `errno` the
  kernel's positive errno number. `Linx.Netlink.Socket` turns them into
  `%Linx.Netlink.Error{}`; use that module rather than this one.
  """

  @on_load :load_nif
  @compile {:autoload, false}

  @typedoc "A failed stage and the kernel's errno number."
  @type failure :: {:error, {atom(), pos_integer()}}

  @doc false
  @spec load_nif() :: :ok | {:error, term()}
  def load_nif do
    path = :filename.join(:code.priv_dir(:linx), ~c"native/linx_netlink")
    :erlang.load_nif(path, 0)
  end

  @doc """
  Opens, configures (extended and capped acks, `rcvbuf` bytes of receive buffer, forced
  past `rmem_max` when privileged) and binds a netlink socket of `protocol` inside the
  netns at `path`, or in the caller's own netns when `path` is `nil`. Runs on a dirty I/O
  scheduler. The caller owns the returned fd.
  """
  @spec open(binary() | nil, non_neg_integer(), non_neg_integer()) ::
          {:ok, non_neg_integer()} | failure()
  def open(_path, _protocol, _rcvbuf), do: :erlang.nif_error(:nif_not_loaded)

  @doc "0.2's primitive: an unbound socket created inside the netns at `path`."
  @spec open_in_netns(binary(), non_neg_integer()) :: {:ok, non_neg_integer()} | failure()
  def open_in_netns(_path, _protocol), do: :erlang.nif_error(:nif_not_loaded)

  @doc "Closes an fd that `:socket` did not adopt."
  @spec close_fd(integer()) :: :ok | failure()
  def close_fd(_fd), do: :erlang.nif_error(:nif_not_loaded)

  @doc "Binds `fd` with `nl_pid = 0` and the legacy multicast group mask `groups`."
  @spec bind_netlink(integer(), non_neg_integer()) :: :ok | failure()
  def bind_netlink(_fd, _groups), do: :erlang.nif_error(:nif_not_loaded)

  @doc "The port id the kernel assigned to the bound socket `fd`."
  @spec port_id(integer()) :: {:ok, non_neg_integer()} | failure()
  def port_id(_fd), do: :erlang.nif_error(:nif_not_loaded)

  @doc "Sets the receive buffer (forced when privileged); returns the size granted."
  @spec set_rcvbuf(integer(), pos_integer()) :: {:ok, pos_integer()} | failure()
  def set_rcvbuf(_fd, _bytes), do: :erlang.nif_error(:nif_not_loaded)

  @doc "Sets FD_CLOEXEC on `fd`."
  @spec set_cloexec(integer()) :: :ok | failure()
  def set_cloexec(_fd), do: :erlang.nif_error(:nif_not_loaded)

  @doc "Whether `fd` has FD_CLOEXEC set."
  @spec cloexec(integer()) :: {:ok, boolean()} | failure()
  def cloexec(_fd), do: :erlang.nif_error(:nif_not_loaded)

  @typedoc "Options for `create_tuntap/3` (every key present)."
  @type tun_args :: %{
          tap: boolean(),
          pi: boolean(),
          vnet_hdr: boolean(),
          multi_queue: boolean(),
          owner: non_neg_integer() | nil,
          group: non_neg_integer() | nil
        }

  @doc """
  Creates the persistent tun/tap device `name` (`/dev/net/tun` + `TUNSETIFF` with
  `IFF_TUN_EXCL`, then `TUNSETOWNER`/`TUNSETGROUP` when given, then `TUNSETPERSIST`) inside
  the netns at `netns_path`, or in the BEAM's own for `nil`; returns the name the kernel
  gave it. Extra stages: `:open_tun`, `:tunsetiff` (EBUSY: the name is taken),
  `:tunsetowner`, `:tunsetgroup`, `:tunsetpersist`. Runs on a dirty I/O scheduler.
  `Linx.Netlink.Rtnl.Link.create_tun/3` and `create_tap/3` are the public entry points.
  """
  @spec create_tuntap(binary() | nil, binary(), tun_args()) :: {:ok, binary()} | failure()
  def create_tuntap(_netns_path, _name, _args), do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  Opens a namespace file read-only and close-on-exec, for `IFLA_NET_NS_FD`. Returns a
  resource owning the descriptor and the descriptor number; `close_ns_file/1` closes it,
  and so does garbage collection of the resource. Runs on a dirty I/O scheduler.
  """
  @spec open_ns_file(binary()) :: {:ok, {reference(), non_neg_integer()}} | failure()
  def open_ns_file(_path), do: :erlang.nif_error(:nif_not_loaded)

  @doc "Closes the descriptor of an `open_ns_file/1` resource now (idempotent)."
  @spec close_ns_file(reference()) :: :ok
  def close_ns_file(_file), do: :erlang.nif_error(:nif_not_loaded)

  @doc "Whether an `open_ns_file/1` resource still holds its descriptor."
  @spec ns_file_open?(reference()) :: boolean()
  def ns_file_open?(file), do: ns_file_open(file)

  @doc false
  @spec ns_file_open(reference()) :: boolean()
  def ns_file_open(_file), do: :erlang.nif_error(:nif_not_loaded)
end
