defmodule Linx.Netlink.Rtnl.Link do
  @moduledoc """
  Network interfaces: `RTM_NEWLINK`/`RTM_GETLINK` messages (`struct ifinfomsg` plus
  `IFLA_*` attributes, `/usr/include/linux/rtnetlink.h` and `if_link.h`), as
  `ip link` shows them.

      {:ok, sock} = Linx.Netlink.Rtnl.open()
      {:ok, lo} = Linx.Netlink.Rtnl.Link.get(sock, "lo")
      Linx.Netlink.Rtnl.Link.up?(lo)

  Every attribute `ip -j -d -s link show` reports is decoded: names, MTU bounds, queue
  counts, GSO/GRO/TSO limits, operational state, link mode, group, promiscuity and
  allmulti counts, carrier and its change counters, qdisc, alias, alternative names,
  permanent address, parent device, netns id, 64-bit statistics and the kind-specific
  `linkinfo`. Link-layer addresses that are not 6 bytes stay raw binaries (see
  `Linx.Netlink.Rtnl.HwAddr`).
  """

  use Linx.Netlink.Codec

  import Bitwise
  import Linx.Netlink.Constants

  alias Linx.Netlink.{Error, Request, Socket}
  alias Linx.Netlink.Rtnl.{HwAddr, LinkInfo}
  alias Linx.Netlink.Rtnl.Stats.Link64

  @rtm_newlink 16
  @rtm_getlink 18

  codec do
    header do
      field :family, :u8
      pad 1
      field :type, :u16
      field :index, :s32
      field :flags, :u32
      field :change, :u32
    end

    attr 1, :address, HwAddr
    attr 2, :broadcast, HwAddr
    attr 3, :name, :string
    attr 4, :mtu, :u32
    attr 5, :link, :u32
    attr 6, :qdisc, :string
    attr 10, :master, :u32
    attr 13, :txqlen, :u32
    attr 16, :operstate, :u8
    attr 17, :linkmode, :u8
    attr 18, :linkinfo, LinkInfo
    attr 19, :net_ns_pid, :u32
    attr 20, :ifalias, :string
    attr 21, :num_vf, :u32
    attr 23, :stats64, Link64
    attr 27, :group, :u32
    attr 28, :net_ns_fd, :s32
    attr 29, :ext_mask, :u32
    attr 30, :promiscuity, :u32
    attr 31, :num_tx_queues, :u32
    attr 32, :num_rx_queues, :u32
    attr 33, :carrier, :u8
    attr 34, :phys_port_id, :binary
    attr 35, :carrier_changes, :u32
    attr 36, :phys_switch_id, :binary
    attr 37, :link_netnsid, :s32
    attr 38, :phys_port_name, :string
    attr 39, :proto_down, :u8
    attr 40, :gso_max_segs, :u32
    attr 41, :gso_max_size, :u32
    attr 44, :event, :u32
    attr 45, :new_netnsid, :s32
    attr 46, :target_netnsid, :s32
    attr 47, :carrier_up_count, :u32
    attr 48, :carrier_down_count, :u32
    attr 49, :new_ifindex, :s32
    attr 50, :min_mtu, :u32
    attr 51, :max_mtu, :u32
    attr 52, :alt_names, {:nested_list, 53, :string}
    attr 53, :alt_name, :string
    attr 54, :perm_address, HwAddr
    attr 56, :parent_dev_name, :string
    attr 57, :parent_dev_bus_name, :string
    attr 58, :gro_max_size, :u32
    attr 59, :tso_max_size, :u32
    attr 60, :tso_max_segs, :u32
    attr 61, :allmulti, :u32
    attr 63, :gso_ipv4_max_size, :u32
    attr 64, :gro_ipv4_max_size, :u32
  end

  # /usr/include/linux/if.h, enum net_device_flags
  @iff [
    up: 0x1,
    broadcast: 0x2,
    debug: 0x4,
    loopback: 0x8,
    pointopoint: 0x10,
    notrailers: 0x20,
    running: 0x40,
    noarp: 0x80,
    promisc: 0x100,
    allmulti: 0x200,
    master: 0x400,
    slave: 0x800,
    multicast: 0x1000,
    portsel: 0x2000,
    automedia: 0x4000,
    dynamic: 0x8000,
    lower_up: 0x10000,
    dormant: 0x20000,
    echo: 0x40000
  ]

  # RFC 2863 operational states (IF_OPER_*, /usr/include/linux/if.h)
  @operstates {:unknown, :notpresent, :down, :lowerlayerdown, :testing, :dormant, :up}

  @doc "Whether the administrative `IFF_UP` flag is set."
  @spec up?(t()) :: boolean()
  def up?(%__MODULE__{flags: flags}) when is_integer(flags), do: (flags &&& 0x1) != 0
  def up?(%__MODULE__{}), do: false

  @doc """
  The `IFF_*` flags set in `link.flags`, as atoms in bit order.

      iex> Linx.Netlink.Rtnl.Link.flag_names(%Linx.Netlink.Rtnl.Link{flags: 0x11043})
      [:up, :broadcast, :running, :multicast, :lower_up]
  """
  @spec flag_names(t()) :: [atom()]
  def flag_names(%__MODULE__{flags: flags}) when is_integer(flags) do
    for {name, bit} <- @iff, (flags &&& bit) != 0, do: name
  end

  def flag_names(%__MODULE__{}), do: []

  @doc """
  The operational state (`IFLA_OPERSTATE`) as an atom.

      iex> Linx.Netlink.Rtnl.Link.operstate(%Linx.Netlink.Rtnl.Link{operstate: 6})
      :up
  """
  @spec operstate(t()) :: atom() | nil
  def operstate(%__MODULE__{operstate: s}) when is_integer(s) and s in 0..6,
    do: elem(@operstates, s)

  def operstate(%__MODULE__{operstate: nil}), do: nil
  def operstate(%__MODULE__{operstate: s}), do: {:unknown, s}

  @doc "The link's kind from `linkinfo` (`\"veth\"`, `\"bridge\"`, ...), or nil."
  @spec kind(t()) :: String.t() | nil
  def kind(%__MODULE__{linkinfo: %LinkInfo{kind: kind}}), do: kind
  def kind(%__MODULE__{}), do: nil

  @doc """
  Every link in the socket's netns (`RTM_GETLINK` dump, like `ip link show`).
  Unprivileged.
  """
  @spec list(Socket.t()) :: {:ok, [t()]} | {:error, Error.t()}
  def list(%Socket{} = sock) do
    payload = encode(%__MODULE__{})

    Request.fold(sock, @rtm_getlink, nlm_f_dump(), payload, [], &[decode_message(&1) | &2],
      operation: :list_links,
      object: sock.netns
    )
    |> case do
      {:ok, links} -> {:ok, links |> Enum.reject(&is_nil/1) |> Enum.reverse()}
      error -> error
    end
  end

  @doc """
  One link by name or ifindex (`RTM_GETLINK`, like `ip link show dev NAME`). A missing
  link is `{:error, %Linx.Netlink.Error{errno: :enodev}}` naming it.
  """
  @spec get(Socket.t(), String.t() | pos_integer()) :: {:ok, t()} | {:error, Error.t()}
  def get(%Socket{} = sock, name_or_index) do
    request =
      case name_or_index do
        index when is_integer(index) and index > 0 and index <= 0x7FFFFFFF ->
          %__MODULE__{index: index}

        name when is_binary(name) ->
          %__MODULE__{name: validate_name!(name)}

        other ->
          raise ArgumentError,
                "a link is named by a string or a positive ifindex, got: #{inspect(other)}"
      end

    case Request.talk(sock, @rtm_getlink, 0, encode(request),
           operation: :get_link,
           object: name_or_index
         ) do
      {:ok, [msg | _]} ->
        case decode_message(msg) do
          nil ->
            {:error,
             Error.new(:eproto,
               operation: :get_link,
               object: name_or_index,
               message: "unexpected reply"
             )}

          link ->
            {:ok, link}
        end

      {:ok, []} ->
        {:error,
         Error.new(:enodata, operation: :get_link, object: name_or_index, message: "no reply")}

      error ->
        name_missing(error, name_or_index)
    end
  end

  @doc """
  Creates a veth pair `name` <-> `peer_name` in the socket's netns (`RTM_NEWLINK` with
  `NLM_F_CREATE | NLM_F_EXCL`, like `ip link add NAME type veth peer name PEER`).
  """
  @spec create_veth(Socket.t(), String.t(), String.t()) :: :ok | {:error, Error.t()}
  def create_veth(%Socket{} = sock, name, peer_name) do
    peer = %__MODULE__{name: validate_name!(peer_name)}
    info = %LinkInfo{kind: "veth", info_data: %LinkInfo.Veth{peer: peer}}
    create(sock, %__MODULE__{name: validate_name!(name), linkinfo: info}, name)
  end

  @doc "Creates a bridge (`ip link add NAME type bridge`)."
  @spec create_bridge(Socket.t(), String.t()) :: :ok | {:error, Error.t()}
  def create_bridge(%Socket{} = sock, name) do
    create(
      sock,
      %__MODULE__{name: validate_name!(name), linkinfo: %LinkInfo{kind: "bridge"}},
      name
    )
  end

  defp create(sock, link, name) do
    flags = nlm_f_create() ||| nlm_f_excl() ||| nlm_f_ack()

    ack(
      Request.talk(sock, @rtm_newlink, flags, encode(link), operation: :create_link, object: name)
    )
  end

  @doc "Sets `IFF_UP` (`ip link set NAME up`). `link` is a name or an ifindex."
  @spec set_up(Socket.t(), String.t() | pos_integer()) :: :ok | {:error, Error.t()}
  def set_up(%Socket{} = sock, link),
    do: change(sock, link, %__MODULE__{flags: 0x1, change: 0x1}, :set_up)

  @doc "Clears `IFF_UP` (`ip link set NAME down`)."
  @spec set_down(Socket.t(), String.t() | pos_integer()) :: :ok | {:error, Error.t()}
  def set_down(%Socket{} = sock, link),
    do: change(sock, link, %__MODULE__{flags: 0, change: 0x1}, :set_down)

  @doc "Enslaves `link` to the bridge/bond `master` (`ip link set NAME master MASTER`)."
  @spec set_master(Socket.t(), String.t() | pos_integer(), String.t() | pos_integer()) ::
          :ok | {:error, Error.t()}
  def set_master(%Socket{} = sock, link, master) do
    with {:ok, master_index} <- resolve(sock, master) do
      change(sock, link, %__MODULE__{master: master_index}, :set_master)
    end
  end

  # Addresses the link by ifindex when given one (no extra round trip), else by name
  # (IFLA_IFNAME in the request: the kernel resolves it, still one round trip).
  defp change(sock, link, %__MODULE__{} = changes, op) do
    target =
      case link do
        index when is_integer(index) and index > 0 -> %{changes | index: index}
        name -> %{changes | name: validate_name!(name)}
      end

    ack(
      Request.talk(sock, @rtm_newlink, nlm_f_ack(), encode(target), operation: op, object: link)
    )
    |> name_missing(link)
  end

  @doc false
  # The ifindex of a link given by name or ifindex (an ifindex costs no round trip); a
  # missing name is an ENODEV error naming it. Shared by the other rtnl object verbs.
  @spec resolve(term(), String.t() | pos_integer()) :: {:ok, pos_integer()} | {:error, Error.t()}
  def resolve(_sock, index) when is_integer(index) and index > 0, do: {:ok, index}

  def resolve(sock, name) do
    with {:ok, %__MODULE__{index: index}} <- get(sock, name), do: {:ok, index}
  end

  defp ack({:ok, _}), do: :ok
  defp ack({:error, _} = error), do: error

  defp name_missing({:error, %Error{errno: :enodev, message: nil} = e}, link),
    do: {:error, %{e | message: "no such interface #{inspect(link)}"}}

  defp name_missing(other, _link), do: other

  @doc false
  # A reply message to a link, or nil when it is not a link message.
  @spec decode_message(Linx.Netlink.Message.t()) :: t() | nil
  def decode_message(%Linx.Netlink.Message{type: type, payload: payload})
      when type in [@rtm_newlink, 17],
      do: decode(payload)

  def decode_message(_), do: nil

  @doc false
  @spec validate_name!(term()) :: String.t()
  def validate_name!(name) when is_binary(name) and byte_size(name) in 1..15 do
    if String.contains?(name, ["/", " ", <<0>>]) or name in [".", ".."] do
      raise ArgumentError,
            "invalid interface name #{inspect(name)} (no '/', spaces, NUL, '.' or '..')"
    end

    name
  end

  def validate_name!(name) do
    raise ArgumentError,
          "invalid interface name #{inspect(name)}: must be a string of 1 to 15 bytes (IFNAMSIZ - 1)"
  end

  defimpl Inspect do
    def inspect(link, _opts) do
      parts =
        [
          link.name && inspect(link.name),
          "(#{link.index})",
          Linx.Netlink.Rtnl.Link.up?(link) && "UP",
          link.mtu && "MTU=#{link.mtu}",
          Linx.Netlink.Rtnl.Link.kind(link) && "kind=#{Linx.Netlink.Rtnl.Link.kind(link)}"
        ]
        |> Enum.filter(& &1)

      "#Linx.Netlink.Rtnl.Link<" <> Enum.join(parts, " ") <> ">"
    end
  end
end
